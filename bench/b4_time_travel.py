"""B4: an as-of read of a 10,000-event case (timestamp index + nearest snapshot)
divided by a full replay of it (every event from the store, no snapshot).
Target <= 0.05.

    .venv/bin/python -m bench.b4_time_travel
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bench.common import build_application, long_case, postgres_settings
from domain.service_exceptions.model import ServiceException
from infrastructure.clock import FrozenClock

EVENTS = 10_000


def main() -> None:
    with postgres_settings() as settings:
        clock = FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        cases = build_application(settings, clock)
        case = long_case(cases, clock, EVENTS)
        instant = clock.now() - timedelta(hours=3)  # somewhere near the end
        rounds = 20
        started = time.perf_counter()
        for _ in range(rounds):
            as_of = cases.get_case_as_of(ServiceException, case.id, instant)
        as_of_seconds = (time.perf_counter() - started) / rounds
        started = time.perf_counter()
        for _ in range(3):
            events = list(cases.events.get(case.id))
            replayed = None
            for event in events:
                replayed = event.mutate(replayed)  # type: ignore[attr-defined]
        replay_seconds = (time.perf_counter() - started) / 3
        cases.close()
    print(f"events in the case          {EVENTS}")
    print(f"as-of read (version {as_of.version})   {as_of_seconds * 1000:8.1f} ms")
    print(f"full replay                 {replay_seconds * 1000:8.1f} ms")
    print(f"ratio                       {as_of_seconds / replay_seconds:8.3f} (target <= 0.05)")


if __name__ == "__main__":
    main()
