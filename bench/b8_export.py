"""B8: a 10,000-event case exported (AUD-4: every event with its chain link, the
signed checkpoint, the closing document) and verified offline as an auditor does
(`casetrail verify-export`), divided by a full replay of the same case (every event
from the store, folded, no snapshot). Target <= 2.

    .venv/bin/python -m bench.b8_export
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import mean

from api.cli import _checkpoints
from api.routers.audit import export
from application.export_check import check_export
from bench.common import build_application, long_case, postgres_settings
from domain.service_exceptions.model import ServiceException
from infrastructure.clock import FrozenClock
from infrastructure.heap import settle

EVENTS = 10_000
ROUNDS = 7


def main() -> None:
    with postgres_settings() as settings:
        clock = FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        cases = build_application(settings, clock)
        case = long_case(cases, clock, EVENTS)
        checkpoints = _checkpoints(settings, cases)
        checkpoints.create(clock.now(), cases.verify_case)
        settle(settings.gc_threshold)  # as `casetrail export` and `verify-export` run

        def export_and_verify() -> None:
            exported = export(checkpoints, cases, ServiceException, case.id,
                              reveal_contact=False)
            problems = check_export(json.loads(exported.model_dump_json()))
            assert not problems, problems

        def replay() -> None:
            replayed = None
            for event in cases.events_of(case.id):
                replayed = event.mutate(replayed)  # type: ignore[attr-defined]

        exporting, replaying = [], []
        for _ in range(ROUNDS):  # taking turns, as bench.common.interleaved does
            exporting.append(seconds(export_and_verify))
            replaying.append(seconds(replay))
        cases.close()
    ratios = [e / r for e, r in zip(exporting, replaying, strict=True)]
    print(f"events in the case                {EVENTS}; {ROUNDS} rounds, taking turns")
    print(f"export, then verify it offline    {mean(exporting) * 1000:8.1f} ms (mean)")
    print(f"full replay                       {mean(replaying) * 1000:8.1f} ms (mean)")
    print(f"ratio                             {mean(ratios):8.2f} "
          f"[{min(ratios):.2f}, {max(ratios):.2f}] (target <= 2)")


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
