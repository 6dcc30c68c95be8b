"""B5: an SLA sweep with 1,000,000 pending obligations divided by the same sweep with
10,000. Both stores hold the same 200 overdue cases (the sweep loads each and records
its breaches); the rest are pending obligations that are not yet due. Target <= 2:
the cost follows what is due, not what is pending.

    .venv/bin/python -m bench.b5_sweep
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg

from application.sla import sweep
from bench.common import PG_URL, build_application, postgres_settings
from domain.service_exceptions.values import Level
from infrastructure.clock import SystemClock
from projections.obligations import TABLE, ObligationsProjection, construct_view
from projections.runtime import ViewRunner
from tests.factories import LATE, ctx, record

DUE_CASES = 200
SIZES = (10_000, 1_000_000)

PENDING = f"""
INSERT INTO {{schema}}.{TABLE}
SELECT gen_random_uuid(), 'EX-RES-1@v1', 'exception', 'after_sales', 'EX-RES-1', 'major',
       'resolve the major exception', 'zhang.san', now(),
       now() + (n %% 30 + 1) * interval '1 day', now() + (n %% 30 + 1) * interval '18 hours',
       NULL, NULL, NULL, NULL, NULL, 'pending', 1,
       now() + (n %% 30 + 1) * interval '1 day', now() + (n %% 30 + 1) * interval '18 hours'
FROM generate_series(1, %s) AS n
"""


def sweep_seconds(pending: int) -> float:
    with postgres_settings() as settings:
        cases = build_application(settings, SystemClock())
        now = datetime.now(UTC)
        for _ in range(DUE_CASES):  # critical, found two hours ago, never reported up
            cases.save_case(record(ctx(now, backdating_reason=LATE), level=Level.CRITICAL,
                                   discovered_at=now - timedelta(hours=2)))
        view = construct_view(cases)
        ViewRunner(cases, ObligationsProjection(cases, view)).catch_up()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(PENDING.format(schema=f'"{settings.postgres_schema}"'),  # type: ignore[arg-type]
                         (pending - DUE_CASES * 2,))
            conn.execute(f'ANALYZE "{settings.postgres_schema}".{TABLE}')
        started = time.perf_counter()
        report = sweep(cases, view)
        seconds = time.perf_counter() - started
        assert report.cases == DUE_CASES, report
        cases.close()
        return seconds


def main() -> None:
    small, large = (sweep_seconds(size) for size in SIZES)
    print(f"sweep, {SIZES[0]:>9,} pending   {small * 1000:8.1f} ms ({DUE_CASES} cases due)")
    print(f"sweep, {SIZES[1]:>9,} pending   {large * 1000:8.1f} ms ({DUE_CASES} cases due)")
    print(f"ratio                         {large / small:8.2f} (target <= 2)")


if __name__ == "__main__":
    main()
