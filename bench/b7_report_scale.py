"""B7: report scale. The escalation-compliance report (SLA-4) and the monthly
exceptions report (RPT-1) for one month, from a store holding a year of cases:
100,000 cases against 1,000. Target <= 10: a report costs what it reports, read
from the views through their indexes, not what the log holds.

Cases are spread evenly over 2026 (general, major and critical in turn), every
other one reported up; the views are caught up before the reports are timed.
The month reported holds a twelfth of the cases in either store, so the ratio
also shows how the cost grows with the rows a report covers.

    .venv/bin/python -m bench.b7_report_scale      # ~5 min
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.routers.reports import monthly_report
from application.compliance import ESCALATION_RULES, EVIDENCE_STATES, escalation_compliance
from bench.common import best_of, build_application, postgres_settings
from domain.actors import Role
from domain.service_exceptions.values import Level
from infrastructure.clock import FrozenClock
from projections.obligations import ObligationQuery, ObligationsProjection, construct_view
from projections.reports import ReportsProjection, construct_reports_view
from projections.runtime import ViewRunner
from tests.factories import ctx, record, report_up

YEAR = datetime(2026, 1, 1, tzinfo=UTC)
MONTH = "2026-06"
JUNE, JULY = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
LEVELS = (Level.GENERAL, Level.MAJOR, Level.CRITICAL)
BATCH = 500


def report_seconds(count: int) -> tuple[float, float, int]:
    """(compliance report s, monthly report s, obligations in the month) with
    `count` cases stored."""
    with postgres_settings() as settings:
        clock = FrozenClock(YEAR)
        cases = build_application(settings, clock)
        step = timedelta(days=365) / count
        batch = []
        for n in range(count):
            found = YEAR + n * step
            case = record(ctx(found + timedelta(minutes=5)), level=LEVELS[n % 3],
                          discovered_at=found)
            if n % 2:
                report_up(case, ctx(found + timedelta(minutes=20)), Role.DEPARTMENT_HEAD)
            batch.append(case)
            if len(batch) == BATCH or n == count - 1:
                cases.save_many(batch)
                batch = []
        obligations, reports = construct_view(cases), construct_reports_view(cases)
        ViewRunner(cases, ObligationsProjection(cases, obligations),
                   ReportsProjection(cases, reports)).catch_up()
        query = ObligationQuery(rules=ESCALATION_RULES, due_from=JUNE, due_before=JULY)
        counts, _ = obligations.compliance(query, EVIDENCE_STATES)

        def compliance() -> None:
            escalation_compliance(*obligations.compliance(query, EVIDENCE_STATES))

        def monthly() -> None:
            monthly_report(cases, reports, MONTH)

        timed = best_of(5, compliance), best_of(5, monthly)
        cases.close()
    return *timed, sum(c.count for c in counts)


def main() -> None:
    small = report_seconds(1_000)
    large = report_seconds(100_000)
    for count, (compliance, monthly, rows) in ((1_000, small), (100_000, large)):
        print(f"{count:>7,} cases: compliance report for {MONTH} {compliance * 1000:8.1f} ms "
              f"({rows:,} obligations), monthly report {monthly * 1000:8.1f} ms")
    print(f"ratio, 100,000 vs 1,000 cases: compliance {large[0] / small[0]:.1f}, monthly "
          f"{large[1] / small[1]:.1f} (target <= 10)")


if __name__ == "__main__":
    main()
