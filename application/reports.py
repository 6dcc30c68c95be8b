"""Report figures (RPT-1..RPT-3) aggregated from the reporting view's facts.

- RPT-1 weekly: general exceptions opened in an ISO week, per department (002 art. 9);
  monthly: the month's major exceptions (art. 10), counts by category and level,
  the most frequent problem types and the weakest service steps (art. 15).
- RPT-2 per department: exception rate (its share of all exceptions in the period),
  response timeliness (report-ups decided on time), completion rate (resolved of
  opened), mean customer satisfaction with the handling, corrective actions
  closed of opened, and those overdue (a breach on record).
- RPT-3: each reported campaign's KPIs, in time order.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from fractions import Fraction
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Facts:
    case_id: UUID
    case_type: str
    department: str
    category: str | None
    level: str | None
    service_step: str | None
    status: str
    opened_at: datetime
    """The instant the case counts in a period by: an exception's discovery (002 art.
    9-10 report the exceptions that occurred), a corrective action's opening, a
    campaign's plan."""
    resolved_at: datetime | None
    report_on_time: bool | None
    plan_on_time: bool | None
    resolution_on_time: bool | None
    satisfaction: int | None
    overdue: bool
    closed: bool
    overall_score: str | None
    satisfaction_rate: str | None
    loyalty: str | None
    favourable_rate: str | None





def _share(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


@dataclass(frozen=True)
class DepartmentWeek:
    department: str
    opened: int
    resolved: int
    resolved_on_time: int
    by_category: dict[str, int]
    cases: list[str]


def weekly(facts: Iterable[Facts], department: str | None = None) -> list[DepartmentWeek]:
    groups: dict[str, list[Facts]] = defaultdict(list)
    for f in facts:
        if f.level == "general" and (department is None or f.department == department):
            groups[f.department].append(f)
    return [DepartmentWeek(
        department=d, opened=len(fs), resolved=sum(f.resolved_at is not None for f in fs),
        resolved_on_time=sum(f.resolution_on_time is True for f in fs),
        by_category=dict(sorted(Counter(f.category or "" for f in fs).items())),
        cases=[str(f.case_id) for f in fs]) for d, fs in sorted(groups.items())]


@dataclass(frozen=True)
class MonthCounts:
    """A month's exceptions as the reporting view counts them (RPT-1, B7): the
    report costs what it shows, not one row per exception."""

    by_category_level: list[tuple[str, str, int]]
    """(category, level, exceptions); "" for a missing value."""
    by_step: list[tuple[str, int, int, int]]
    """(service step or "", exceptions, sum of satisfaction scores, scores given)."""
    major_cases: list[str]
    """In the order they were discovered."""


@dataclass(frozen=True)
class Month:
    major_cases: list[str]
    by_category_level: dict[str, dict[str, int]]
    frequent_problems: list[tuple[str, int]]
    weak_steps: list[tuple[str, int, Fraction | None]]
    """(service step, exceptions, mean satisfaction): most exceptions, then least satisfied."""


def monthly(counts: MonthCounts, top: int = 3) -> Month:
    table: dict[str, dict[str, int]] = defaultdict(dict)
    per_category: Counter[str] = Counter()
    for category, level, n in counts.by_category_level:
        table[category][level] = n
        per_category[category] += n
    weak = sorted(((step, n, Fraction(total, scored) if scored else None)
                   for step, n, total, scored in counts.by_step),
                  key=lambda t: (-t[1], t[2] if t[2] is not None else 6, t[0]))
    return Month(
        major_cases=counts.major_cases,
        by_category_level={c: dict(sorted(levels.items())) for c, levels in sorted(table.items())},
        frequent_problems=sorted(per_category.items(), key=lambda t: (-t[1], t[0]))[:top],
        weak_steps=weak[:top])


@dataclass(frozen=True)
class DepartmentKpis:
    department: str
    exceptions: int
    exception_rate: Fraction | None
    response_timeliness: Fraction | None
    completion_rate: Fraction | None
    satisfaction: Fraction | None
    actions: int
    action_completion_rate: Fraction | None
    actions_overdue: int


def departments(exceptions: Iterable[Facts], actions: Iterable[Facts]) -> list[DepartmentKpis]:
    ex = list(exceptions)
    by_ex: dict[str, list[Facts]] = defaultdict(list)
    for f in ex:
        by_ex[f.department].append(f)
    by_ca: dict[str, list[Facts]] = defaultdict(list)
    for f in actions:
        by_ca[f.department].append(f)
    result = []
    for department in sorted(set(by_ex) | set(by_ca)):
        es, cs = by_ex.get(department, []), by_ca.get(department, [])
        decided = [f.report_on_time for f in es if f.report_on_time is not None]
        scores = [f.satisfaction for f in es if f.satisfaction is not None]
        result.append(DepartmentKpis(
            department=department, exceptions=len(es), exception_rate=_share(len(es), len(ex)),
            response_timeliness=_share(sum(decided), len(decided)),
            completion_rate=_share(sum(f.resolved_at is not None for f in es), len(es)),
            satisfaction=Fraction(sum(scores), len(scores)) if scores else None,
            actions=len(cs), action_completion_rate=_share(sum(f.closed for f in cs), len(cs)),
            actions_overdue=sum(f.overdue and not f.closed for f in cs)))
    return result


def _ratio(value: Fraction | None) -> str | None:
    return None if value is None else str(value)


def weekly_items(facts: Iterable[Facts], department: str | None = None) -> list[dict[str, object]]:
    return [{"department": w.department, "opened": w.opened, "resolved": w.resolved,
             "resolved_on_time": w.resolved_on_time, "by_category": w.by_category,
             "cases": w.cases} for w in weekly(facts, department)]


def monthly_items(counts: MonthCounts) -> dict[str, object]:
    result = monthly(counts)
    return {"major_cases": result.major_cases, "by_category_level": result.by_category_level,
            "frequent_problems": [{"category": c, "exceptions": n}
                                  for c, n in result.frequent_problems],
            "weak_steps": [{"service_step": s, "exceptions": n, "satisfaction": _ratio(sat)}
                           for s, n, sat in result.weak_steps]}


class FactsSource(Protocol):
    def select(self, case_type: str, opened_from: datetime | None = None,
               opened_to: datetime | None = None) -> list[Facts]: ...

    def month_counts(self, opened_from: datetime, opened_to: datetime) -> MonthCounts: ...


class RunStore(Protocol):
    def record_report_run(self, kind: str, period: str, produced_at: datetime,
                          payload: str) -> bool: ...


def produce_due_reports(now: datetime, zone: tzinfo, facts: FactsSource,
                        runs: RunStore) -> list[tuple[str, str]]:
    """RPT-1 on schedule: the weekly report of the last complete ISO week (002 art. 9)
    and the monthly report of the last complete month (art. 10), each produced once
    and kept with its figures, so it is on record that (and when) it was done."""
    today = now.astimezone(zone).date()

    def local(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone)

    week_start = today - timedelta(days=today.weekday() + 7)
    year, week, _ = week_start.isocalendar()
    month_end = date(today.year, today.month, 1)
    month_start = date(month_end.year - (month_end.month == 1),
                       12 if month_end.month == 1 else month_end.month - 1, 1)
    builders: dict[str, Callable[[datetime, datetime], object]] = {
        "weekly": lambda begin, end: weekly_items(facts.select("exception", begin, end)),
        "monthly": lambda begin, end: monthly_items(facts.month_counts(begin, end))}
    due = [("weekly", f"{year}-W{week:02d}", local(week_start),
            local(week_start + timedelta(days=7))),
           ("monthly", f"{month_start:%Y-%m}", local(month_start), local(month_end))]
    produced = []
    for kind, period, begin, end in due:
        items = builders[kind](begin, end)
        payload = json.dumps({"period_from": begin.isoformat(), "period_to": end.isoformat(),
                              "items": items},
                             ensure_ascii=False)
        if runs.record_report_run(kind, period, now, payload):
            produced.append((kind, period))
    return produced
