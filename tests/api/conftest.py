from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from application.app import CaseApplication
from infrastructure.clock import FrozenClock
from infrastructure.settings import Settings


@pytest.fixture
def client(store_settings: Settings, clock: FrozenClock,
           cases: CaseApplication) -> Iterator[TestClient]:
    with TestClient(create_app(store_settings, clock, cases)) as test_client:
        yield test_client


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def stored_events(cases: CaseApplication) -> int:
    return cases.recorder.max_notification_id() or 0
