from __future__ import annotations

from application.app import CaseApplication


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def stored_events(cases: CaseApplication) -> int:
    return cases.recorder.max_notification_id() or 0
