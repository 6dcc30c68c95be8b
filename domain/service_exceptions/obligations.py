"""The obligations a service exception owes (SLA-1), derived from its state and the
policy in force: EX-ESC-1 report up, EX-PLAN-2 plan, EX-RES-1 resolution, EX-PROG-1
daily progress and EX-REV-1's critical retrospective.

A reclassification starts a new level epoch (EX-LVL-2): the obligations of the
epoch it ends that were still pending become void; the met ones and the breached
ones (due before it ended, unmet) stay on record as they were. The new level's
obligations run from the reclassification instant. Only events recorded within an
epoch meet its obligations. A cancellation ends the last epoch the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta

from domain.actors import Role
from domain.calendar import BusinessCalendar
from domain.obligations import Obligation
from domain.policy import ExceptionPolicy
from domain.service_exceptions.model import LevelEpoch, PlanStatus, ServiceException
from domain.service_exceptions.values import (
    DAILY_PROGRESS,
    PLAN_APPROVERS,
    REPORT_UP_RECIPIENTS,
    RESPONDERS,
    REVIEWERS,
    Level,
    ProgressKind,
)


def obligations(case: ServiceException, policy: ExceptionPolicy, calendar: BusinessCalendar,
                now: datetime) -> list[Obligation]:
    """Every obligation of the case, in the order they arose. `now` bounds the daily
    progress items of an execution still running (today's is included)."""
    found: list[Obligation] = []
    for index, epoch in enumerate(case.epochs):
        end = _end(case, index)
        end_version = end[0] if end else None
        owed = [_report_up(case, policy, epoch, end_version)]
        if epoch.level is not Level.GENERAL:
            owed.append(_plan(case, policy, epoch, end_version, owed[0]))
        resolution = _resolution(case, policy, calendar, index, end_version)
        found += [_ended(o, end) for o in (*owed, resolution) if o is not None]
    found.extend(_daily_progress(case, calendar, now))
    retrospective = _retrospective(case, policy, calendar)
    if retrospective is not None:
        found.append(retrospective)
    return found


def _end(case: ServiceException, index: int) -> tuple[int, datetime] | None:
    """The version and instant that ended the epoch: the next reclassification, or
    the cancellation."""
    if index + 1 < len(case.epochs):
        return case.epochs[index + 1].version, case.epochs[index + 1].started_at
    if case.cancellation and case.closed_at is not None:
        return case.cancellation[2], case.closed_at
    return None


def _ended(obligation: Obligation, end: tuple[int, datetime] | None) -> Obligation:
    """EX-LVL-2: void if it was still pending when its epoch ended; met or breached
    ones stay as they were."""
    if end is None or obligation.met_at is not None or obligation.due_at <= end[1]:
        return obligation
    return replace(obligation, void_by_version=end[0])


def _roles(roles: frozenset[Role]) -> str:
    return " or ".join(sorted(r.value for r in roles))


def _handler(case: ServiceException, level: Level) -> str:
    """Whoever runs the response, else the role that should have started it."""
    response = case.response
    person = response and (response.handler or response.team_owner or response.started_by)
    return person or _roles(RESPONDERS[level])


def _within(version: int, epoch: LevelEpoch, end_version: int | None) -> bool:
    return version > epoch.version and (end_version is None or version < end_version)


def _report_up(case: ServiceException, policy: ExceptionPolicy, epoch: LevelEpoch,
               end_version: int | None) -> Obligation:
    needed = REPORT_UP_RECIPIENTS[epoch.level]
    due = epoch.started_at + getattr(policy, f"report_up_{epoch.level.value}")
    met_at, met_by = epoch.complete_at, epoch.complete_version
    names = " and ".join(sorted(r.value for r in needed))
    return Obligation(
        key=f"EX-ESC-1@v{epoch.version}", rule="EX-ESC-1",
        description=f"report the {epoch.level.value} exception up to {names}",
        started_at=epoch.started_at, due_at=due, met_at=met_at, met_by_version=met_by,
        level=epoch.level.value,
        responsible=f"{case.reporter} (reporter), to {names}",
        met_recorded_at=epoch.complete_recorded_late)


def _plan(case: ServiceException, policy: ExceptionPolicy, epoch: LevelEpoch,
          end_version: int | None, report: Obligation) -> Obligation:
    # From the report up, or from its due instant when it was late or never made:
    # lateness never extends the plan deadline (EX-PLAN-2).
    base = min(report.met_at, report.due_at) if report.met_at else report.due_at
    due = base + getattr(policy, f"plan_{epoch.level.value}")
    approvals = sorted((r.decided_version, r.decided_at) for r in case.plans
                       if r.status == PlanStatus.APPROVED and r.decided_version is not None
                       and _within(r.decided_version, epoch, end_version))
    met_by, met_at = approvals[0] if approvals else (None, None)
    return Obligation(
        key=f"EX-PLAN-2@v{epoch.version}", rule="EX-PLAN-2",
        description=f"approve the {epoch.level.value} exception's plan and start execution",
        started_at=base, due_at=due, met_at=met_at, met_by_version=met_by,
        level=epoch.level.value,
        responsible=_roles(PLAN_APPROVERS[epoch.level]))


def _resolution(case: ServiceException, policy: ExceptionPolicy, calendar: BusinessCalendar,
                index: int, end_version: int | None) -> Obligation | None:
    epoch = case.epochs[index]
    base = case.discovered_at if index == 0 else epoch.started_at
    if epoch.level is Level.CRITICAL:
        plan = case.plan_in_force
        final = plan.final_milestone if plan else None
        if final is None:
            return None  # due only once a plan with milestones is approved
        due = final.due_at
    else:
        days = getattr(policy, f"resolve_{epoch.level.value}_working_days")
        due = calendar.add_working_days(base, days)
    met_at, met_by, recorded_late = next(
        ((r.resolved_at, r.version, r.recorded_late) for r in case.resolutions
         if not r.reopened and _within(r.version, epoch, end_version)), (None, None, None))
    return Obligation(
        key=f"EX-RES-1@v{epoch.version}", rule="EX-RES-1",
        description=f"resolve the {epoch.level.value} exception",
        started_at=base, due_at=due, met_at=met_at, met_by_version=met_by,
        level=epoch.level.value,
        responsible=_handler(case, epoch.level), met_recorded_at=recorded_late)


def _daily_progress(case: ServiceException, calendar: BusinessCalendar,
                    now: datetime) -> Iterator[Obligation]:
    """EX-PROG-1: from the first working day after execution starts until resolution,
    each working day's item is due at that day's close of business."""
    entries: dict[tuple[date, ProgressKind], tuple[datetime, int]] = {}
    for progress, recorded_at, version in case.progress:
        entries.setdefault((progress.day, progress.kind), (recorded_at, version))
    for period in case.execution:
        until = period.ended_at or now
        day = calendar.next_working_day(calendar.local_date(period.started_at))
        while True:
            due = calendar.end_of_working_day(day)
            if period.ended_at is not None and due > period.ended_at:
                break
            if period.ended_at is None and day > calendar.local_date(until):
                break
            level = case.level_at(min(due, until))
            kind = DAILY_PROGRESS[level]
            if kind is not None:
                met_at, met_by = entries.get((day, kind), (None, None))
                what = "progress report to cs_head" if kind is ProgressKind.REPORT \
                    else "daily meeting minutes"
                yield Obligation(
                    key=f"EX-PROG-1@{day.isoformat()}", rule="EX-PROG-1",
                    description=f"{what} for {day.isoformat()}",
                    started_at=max(period.started_at, calendar.end_of_day(day - timedelta(1))),
                    due_at=due, met_at=met_at, met_by_version=met_by, level=level.value,
                    responsible=_handler(case, level))
            day = calendar.next_working_day(day)


def _retrospective(case: ServiceException, policy: ExceptionPolicy,
                   calendar: BusinessCalendar) -> Obligation | None:
    """EX-REV-1: a critical exception's retrospective within one month of resolution."""
    resolution = case.resolution
    if resolution is None or resolution.level is not Level.CRITICAL:
        return None
    due = calendar.add_months(resolution.resolved_at, policy.retrospective_critical_months)
    met_at = met_by = None
    if case.review is not None and case.review[0].retrospective is not None:
        met_at, met_by = case.review[0].retrospective.held_at, case.review[1]
    return Obligation(
        key=f"EX-REV-1@v{resolution.version}", rule="EX-REV-1",
        description="hold the critical exception's retrospective meeting",
        started_at=resolution.resolved_at, due_at=due, met_at=met_at, met_by_version=met_by,
        level=Level.CRITICAL.value, responsible=_roles(REVIEWERS[Level.CRITICAL]))
