"""B6: `casetrail verify --all` over 1,000,000 stored events (every case's hash chain
recomputed and checked against the newest signed checkpoint), in events a second,
divided by the events a second of reading the same rows with one plain sequential
SELECT in psycopg (a server-side cursor, no Python besides). Target >= 0.3.

The store is filled through the application (cases of 100 events, ~6 min for
1,000,000); CASETRAIL_BENCH_EVENTS sets another size.

    .venv/bin/python -m bench.b6_verify_all
"""

from __future__ import annotations

import os
import time
from statistics import mean

import psycopg

from api.cli import _checkpoints
from bench.common import PG_URL, build_application, fill, postgres_settings
from infrastructure.clock import SystemClock
from infrastructure.settings import Settings

EVENTS = int(os.environ.get("CASETRAIL_BENCH_EVENTS", "1000000"))
ROUNDS = 3


def plain_select(settings: Settings) -> float:
    """Events a second: every stored event's columns, one ordered scan."""
    started, count = time.perf_counter(), 0
    with psycopg.connect(PG_URL) as conn, conn.cursor(name="scan") as scan:
        scan.itersize = 2000
        scan.execute(f'SELECT originator_id, originator_version, topic, state FROM '
                     f'"{settings.postgres_schema}".casetrail_events '
                     "ORDER BY originator_id, originator_version")
        for _ in scan:
            count += 1
    assert count == EVENTS, count
    return count / (time.perf_counter() - started)


def main() -> None:
    with postgres_settings() as settings:
        started = time.perf_counter()
        fill(settings, EVENTS)
        print(f"filled {EVENTS:,} events in {time.perf_counter() - started:.0f} s")
        cases = build_application(settings, SystemClock())
        checkpoints = _checkpoints(settings, cases)
        checkpoints.create(cases.clock.now(), cases.verify_case)

        def verify_all() -> float:
            counted = [0]
            began = time.perf_counter()
            report = checkpoints.verify_all(
                cases, progress=lambda n: counted.__setitem__(0, counted[0] + n))
            assert not report.damage and counted[0] == EVENTS, (report.damage, counted)
            return counted[0] / (time.perf_counter() - began)

        baseline, measured = [], []
        for _ in range(ROUNDS):  # taking turns, as bench.common.interleaved does
            baseline.append(plain_select(settings))
            measured.append(verify_all())
        cases.close()
    ratios = [m / b for m, b in zip(measured, baseline, strict=True)]
    print(f"{ROUNDS} rounds, taking turns")
    print(f"plain SELECT, events/s (baseline)   {mean(baseline):10.0f}")
    print(f"verify --all, events/s              {mean(measured):10.0f}   ratio "
          f"{mean(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}] (target >= 0.3)")


if __name__ == "__main__":
    main()
