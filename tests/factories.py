"""Small builders for test data."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import Snapshot

from domain.actors import Actor, Role
from domain.cases import CommandContext
from domain.service_exceptions.model import LevelEpoch, ServiceException
from domain.service_exceptions.values import (
    REPORT_UP_RECIPIENTS,
    REPORTING_CHAIN,
    SIGN_OFFS,
    Category,
    Contact,
    Customer,
    Improvement,
    Investigation,
    Level,
    Measure,
    Meeting,
    Milestone,
    QualityFinding,
)

LATE = "noticed on a site visit, entered afterwards"
"""A backdating reason (EX-REC-2) for tests whose business instants are old."""


def ctx(at: datetime, *roles: Role, user: str = "li.wei",
        backdating_reason: str | None = None) -> CommandContext:
    actor = Actor(user=user, roles=roles or (Role.FRONTLINE,), department="after_sales")
    return CommandContext(actor=actor, at=at, correlation_id="corr-1",
                          backdating_reason=backdating_reason)


def record(context: CommandContext, *, level: Level = Level.GENERAL,
           discovered_at: datetime | None = None, **overrides: Any) -> ServiceException:
    fields: dict[str, Any] = {
        "customer": Customer("C-1", "ACME Robotics", True,
                             Contact("Wang Fang", "+86 138 0000 0000")),
        "category": Category.AFTER_SALES,
        "level": level,
        "title": "Palletiser stopped",
        "description": "The palletising cell stopped after a firmware update.",
        "service_step": "after_sales_visit",
        "discovered_at": discovered_at or context.at - timedelta(minutes=10),
        "department": "after_sales",
    } | overrides
    return ServiceException.record(context, **fields)


def report_up(case: ServiceException, context: CommandContext, *to: Role,
              at: datetime | None = None) -> None:
    """A report by the reporting chain's link that reaches `to` (EX-CHAIN-1): the
    default actor (a frontline user) takes that link's reporter role; an actor given
    with roles of its own reports as it is."""
    by = next((by for by, recipients in REPORTING_CHAIN if set(to) <= recipients), None)
    if by is not None and context.actor.roles == (Role.FRONTLINE,):
        context = replace(context, actor=replace(context.actor, roles=(by,)))
    case.report_up(context, reported_to=to, reported_at=at or context.at,
                   details="cell down since 09:00", first_judgement="firmware regression",
                   customer_demands="restore today", measures_taken="engineer dispatched")


def open_body(**overrides: Any) -> dict[str, Any]:
    return {
        "customer": {"id": "C-1", "name": "ACME Robotics", "key_account": True,
                     "contact": {"name": "Wang Fang", "phone": "+86 138 0000 0000",
                                 "email": "wang.fang@acme.example"}},
        "category": "after_sales",
        "level": "major",
        "title": "Palletiser stopped",
        "description": "The palletising cell stopped after a firmware update.",
        "service_step": "after_sales_visit",
        "discovered_at": "2026-09-30T14:50:00+08:00",
        "department": "after_sales",
    } | overrides


def report_body(**overrides: Any) -> dict[str, Any]:
    return {"reported_to": ["cs_head"], "reported_at": "2026-09-30T14:55:00+08:00",
            "details": "cell down", "first_judgement": "firmware", "customer_demands": "today",
            "measures_taken": "engineer sent"} | overrides


# --- walking a case through its lifecycle (domain level) ---------------------------

LEAD_FOR = {Level.GENERAL: Role.DEPARTMENT_HEAD, Level.MAJOR: Role.CS_HEAD,
            Level.CRITICAL: Role.GROUP_LEADER}


def report_fully(case: ServiceException, at: datetime) -> None:
    for role in sorted(REPORT_UP_RECIPIENTS[case.level], key=lambda r: r.value):
        report_up(case, ctx(at), role, at=at)


def start_response(case: ServiceException, at: datetime) -> None:
    lead = ctx(at, LEAD_FOR[case.level], user="lead")
    if case.level is Level.GENERAL:
        case.start_response(lead, handler="zhang.san")
    elif case.level is Level.MAJOR:
        case.start_response(lead, team_owner="zhang.san", team_members=("li.si", "wang.wu"),
                            milestones=(Milestone("site visit", at + timedelta(hours=8)),))
    else:
        case.start_response(lead, meeting=Meeting(at, ("leader", "cs head"), "emergency plan"))
        case.station_on_site(lead, person="zhang.san", since=at)


def investigate(case: ServiceException, at: datetime, *,
                participants: tuple[Role, ...] = (Role.IMPLEMENTATION,),
                finding: QualityFinding | None = None) -> None:
    case.record_investigation(ctx(at, Role.CS_HEAD), Investigation(
        contract_clauses="clause 7.2", service_records="3 visits", interviews="operator",
        site_visit="cell 3", root_cause="firmware regression", participants=participants,
        finding=finding))


def propose(case: ServiceException, at: datetime, *, compensation: str | None = None,
            final_due: datetime | None = None) -> int:
    milestones = (Milestone("patch", at + timedelta(days=1)),
                  Milestone("verified", final_due or at + timedelta(days=5)))
    return case.propose_plan(ctx(at), measures=(Measure(
        "roll back firmware", "after_sales", "zhang.san", at + timedelta(days=1)),),
        resources="two engineers", milestones=milestones, compensation=compensation)


def approve(case: ServiceException, number: int, at: datetime) -> None:
    case.decide_plan(ctx(at, LEAD_FOR[case.level], user="approver"), number=number,
                     approved=True)


def to_executing(case: ServiceException, at: datetime) -> None:
    report_fully(case, at)
    start_response(case, at)
    investigate(case, at)
    approve(case, propose(case, at), at)


def resolve(case: ServiceException, at: datetime) -> None:
    case.resolve(ctx(at), summary="firmware rolled back, cell running")


def feedback(case: ServiceException, at: datetime, satisfaction: int = 4) -> None:
    case.record_feedback(ctx(at), satisfaction=satisfaction, comment="ok", informed_at=at)


def review(case: ServiceException, at: datetime) -> None:
    case.record_review(
        ctx(at, Role.GROUP_LEADER if case.level is not Level.GENERAL else Role.DEPARTMENT_HEAD),
        root_cause="untested firmware", lessons="stage rollouts",
        improvements=(Improvement("staged rollout procedure", corrective_action=True),),
        retrospective=Meeting(at, ("leader",), "retrospective")
        if case.level is Level.CRITICAL else None)


def sign_off(case: ServiceException, at: datetime) -> None:
    """EX-SIGN-1: every sign-off the level's closing document needs, in order."""
    for role in SIGN_OFFS[case.level]:
        case.sign_off(ctx(at, role, user=f"{role.value}.signer"))


V3_STATE = ("flags_raised_version", "investigated_version", "on_site", "agreements",
            "recoveries", "sign_offs", "survey_id")


def version_2_snapshot(case: ServiceException) -> Snapshot:
    """A snapshot of `case` as class version 2 took them: before EX-SPEC-2 and
    EX-SIGN-1 kept anything in the state."""
    current = Snapshot.take(case)
    state = {k: v for k, v in current.state.items() if k not in V3_STATE}
    state["class_version"] = 2
    return Snapshot(originator_id=case.id, originator_version=case.version,
                    timestamp=current.timestamp, topic=current.topic, state=state)


def version_1_snapshot(case: ServiceException, events: list[Any]) -> Snapshot:
    """A snapshot of `case` as class version 1 took them: every report up in `reports`,
    epochs without what their reports achieved. `events`: the case's events."""
    current = version_2_snapshot(case)
    state = {k: v for k, v in current.state.items()
             if k not in ("class_version", "report_count", "last_report")}
    state["epochs"] = [LevelEpoch(e.level, e.started_at, e.version) for e in case.epochs]
    state["reports"] = [[r, v] for r, v in ServiceException.reports_in(events)]
    return Snapshot(originator_id=case.id, originator_version=case.version,
                    timestamp=current.timestamp, topic=current.topic, state=state)
