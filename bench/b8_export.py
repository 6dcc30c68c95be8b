"""B8: a 10,000-event case exported (AUD-4: every event with its chain link, the
signed checkpoint, the closing document) and verified offline as an auditor does
(`casetrail verify-export`), divided by a full replay of the same case (every event
from the store, folded, no snapshot). Target <= 2.

    .venv/bin/python -m bench.b8_export
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from api.cli import _checkpoints
from api.routers.audit import export
from application.export_check import check_export
from bench.common import best_of, build_application, long_case, postgres_settings
from domain.service_exceptions.model import ServiceException
from infrastructure.clock import FrozenClock

EVENTS = 10_000
ROUNDS = 3


def main() -> None:
    with postgres_settings() as settings:
        clock = FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        cases = build_application(settings, clock)
        case = long_case(cases, clock, EVENTS)
        checkpoints = _checkpoints(settings, cases)
        checkpoints.create(clock.now(), cases.verify_case)

        def export_and_verify() -> None:
            exported = export(checkpoints, cases, ServiceException, case.id,
                              reveal_contact=False)
            problems = check_export(json.loads(exported.model_dump_json()))
            assert not problems, problems

        def replay() -> None:
            replayed = None
            for event in cases.events_of(case.id):
                replayed = event.mutate(replayed)  # type: ignore[attr-defined]

        exporting = best_of(ROUNDS, export_and_verify)
        replaying = best_of(ROUNDS, replay)
        cases.close()
    print(f"events in the case                {EVENTS}")
    print(f"export, then verify it offline    {exporting * 1000:8.1f} ms")
    print(f"full replay                       {replaying * 1000:8.1f} ms")
    print(f"ratio                             {exporting / replaying:8.2f} (target <= 2)")


if __name__ == "__main__":
    main()
