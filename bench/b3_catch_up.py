"""B3: projection catch-up. Events per second replayed into the obligations and
report views (each event applied to both, with its tracking row) by one runner, as
`casetrail worker` feeds them, divided by raw single-row INSERT transactions per
second on the same database. Target >= 2. Each view alone is printed too.

    .venv/bin/python -m bench.b3_catch_up
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from statistics import mean

from bench.common import build_application, postgres_settings, raw_inserts
from domain.actors import Role
from domain.service_exceptions.values import Level
from infrastructure.clock import SystemClock
from infrastructure.heap import settle
from projections.obligations import ObligationsProjection, construct_view
from projections.reports import ReportsProjection, construct_reports_view
from projections.runtime import ViewRunner
from tests.factories import ctx, record, report_up

CASES = 1000  # three events each: recorded, reported up, reclassified


def main() -> None:
    with postgres_settings() as settings, raw_inserts(settings) as baseline:
        cases = build_application(settings, SystemClock())
        now = datetime.now(UTC)
        for _ in range(CASES):
            case = record(ctx(now), level=Level.MAJOR)
            report_up(case, ctx(now), Role.CS_HEAD)
            case.reclassify(ctx(now, Role.CS_HEAD), level=Level.CRITICAL, reason="worse")
            cases.save_case(case)
        events = int(cases.recorder.max_notification_id() or 0)
        obligations = ObligationsProjection(cases, construct_view(cases))
        reports = ReportsProjection(cases, construct_reports_view(cases))
        settle(settings.gc_threshold)  # as `casetrail worker` runs
        seconds, base = {}, []
        for name, runner in (("obligations view", ViewRunner(cases, obligations)),
                             ("reports view", ViewRunner(cases, reports)),
                             ("both views, one runner", ViewRunner(cases, obligations,
                                                                   reports))):
            base.append(baseline(1.0))  # just before: this machine's flush time drifts
            started = time.perf_counter()
            assert runner.rebuild() == events
            seconds[name] = time.perf_counter() - started
        cases.close()
    print(f"raw INSERT tx/s (baseline)        {mean(base):9.1f}   "
          f"[{min(base):.0f}, {max(base):.0f}]")
    for name, s in seconds.items():
        print(f"{name + ', events/s':<33} {events / s:9.1f}")
    both = events / seconds["both views, one runner"]
    print(f"{'ratio':<33} {both / base[-1]:9.2f} (target >= 2; against the baseline "
          "measured just before it)")


if __name__ == "__main__":
    main()
