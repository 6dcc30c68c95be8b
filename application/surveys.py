"""Survey use cases that span aggregates: the customer directory and its import,
service nodes that make instant surveys and follow-up visits due (SV-TYPE-2/3),
and the quarterly check that makes a special survey due (SV-TYPE-4)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Protocol

from application.app import CaseApplication, CommandResult
from application.case_index import SearchFilters
from domain.cases import SYSTEM, CommandContext, authorise, business_instant, required_text
from domain.errors import CaseNotFound
from domain.surveys.campaign import (
    APPROVERS,
    ORGANISERS,
    CampaignPlan,
    Channel,
    SurveyCampaign,
    SurveySubtype,
    SurveyType,
    Trigger,
)
from domain.surveys.directory import CustomerRecord, NodeType, ServiceNode, customer_uuid
from domain.surveys.questionnaire import DEFAULT_PERIODIC
from domain.surveys.sampling import SampleCustomer


class CaseCounts(Protocol):
    def count_cases(self, case_type: str, opened_from: datetime, opened_to: datetime) -> int: ...

    def find_by_title(self, case_type: str, title: str) -> Sequence[object]: ...


def previous_comparable(cases: CaseApplication,
                        campaign: SurveyCampaign) -> tuple[str, str | None] | None:
    """SV-KPI-1: the latest reported campaign of the same type planned before this one."""
    page = cases.search(SearchFilters(case_type="survey", category=campaign.survey_type.value,
                                      status="reported"), 200, None)
    for summary in page.items:  # newest first
        if summary.case_id != campaign.id and summary.opened_at < campaign.planned_at:
            previous = cases.get_case(SurveyCampaign, summary.case_id)
            score = previous.cleaning.overall_score if previous.cleaning else None
            return str(previous.id), score
    return None


def active_customers(cases: CaseApplication, start: date, end: date) -> tuple[SampleCustomer, ...]:
    """SV-SAMPLE-1: the customers with a service node in the period, from the directory,
    with the aspects the sample's spread is reported on."""
    found = []
    cursor = None
    while True:
        page = cases.search(SearchFilters(case_type="customer"), 200, cursor)
        for summary in page.items:
            customer = cases.get_case(CustomerRecord, summary.case_id)
            if customer.active_in(start, end, cases.calendar):
                latest = max(customer.nodes, key=lambda n: n.completed_at)
                found.append(SampleCustomer(
                    customer.business_id, customer.key_account, customer.size,
                    customer.tenure(end), customer.region, latest.node_type.value,
                    customer.enterprise))
        cursor = page.next_cursor
        if cursor is None:
            return tuple(sorted(found, key=lambda c: c.id))


def weighed_by_directory(cases: CaseApplication, given: tuple[SampleCustomer, ...]
                         ) -> tuple[SampleCustomer, ...]:
    """SV-KPI-4: in a frame a caller gives (with management's override), whether a
    customer the directory knows is a key account is still the directory's word."""
    def weighed(customer: SampleCustomer) -> SampleCustomer:
        try:
            record = cases.get_case(CustomerRecord, customer_uuid(customer.id))
        except CaseNotFound:
            return customer
        return replace(customer, key_account=record.key_account)
    return tuple(weighed(c) for c in given)


def register_customers(cases: CaseApplication, records: Sequence[CustomerRecord]) -> int:
    """All or nothing: every customer of an import is saved in one transaction."""
    if records:
        cases.save_many(list(records))
    return len(records)


def _instant(customer: CustomerRecord, trigger: Trigger, title: str,
             ctx: CommandContext) -> SurveyCampaign:
    start = trigger.start.date()
    plan = CampaignPlan(goals=trigger.source, period_start=start,
                        period_end=max(trigger.due_date or start, start),
                        scope=f"customer {customer.business_id}",
                        channels=(Channel.PHONE, Channel.ONLINE),
                        owners=("customer service",), budget="routine")
    return SurveyCampaign.schedule(ctx, trigger=trigger, survey_type=SurveyType.INSTANT,
                                   title=title, plan=plan, questionnaire=DEFAULT_PERIODIC)


def record_service_node(cases: CaseApplication, ctx: CommandContext, customer_id: str,
                        node: ServiceNode) -> CommandResult:
    """SV-TYPE-2: an instant survey due within 3 working days of any service node;
    SV-TYPE-3: after a delivery, visits at +1 and +3 months and at warranty end.
    The campaigns are drafted in the same transaction as the node. A node recorded
    after the fact drafts only the surveys still due: one whose launch deadline has
    passed would be a breach the recording itself made (the EX-REC-2 idea: history
    is recorded, not owed); the node stays on the customer's record."""

    def command(customer: CustomerRecord) -> list[SurveyCampaign]:
        customer.record_node(ctx, node)
        who = customer.business_id
        label = node.node_type.value.replace("_", " ")
        drafts = [_instant(customer, Trigger("SV-TYPE-2", f"{label} for {who}",
                                             node.completed_at,
                                             node_type=node.node_type.value),
                           f"Instant survey: {label}, {who}", ctx)]
        if node.node_type is NodeType.DELIVERY:
            for months in cases.policy.surveys.follow_up_visit_months:
                drafts.append(_instant(customer, Trigger(
                    "SV-TYPE-3", f"visit {months} months after delivery {node.reference}",
                    node.completed_at, months=months),
                    f"Follow-up visit +{months}m: {who}", ctx))
            drafts.append(_instant(customer, Trigger(  # a delivery states its warranty end
                "SV-TYPE-3", f"warranty end of delivery {node.reference}", node.completed_at,
                due_date=node.warranty_end), f"Warranty-end visit: {who}", ctx))
        return [d for d in drafts if still_due(d)]

    def still_due(draft: SurveyCampaign) -> bool:
        return all(o.due_at > ctx.at for o in cases.obligations(draft, ctx.at)
                   if o.rule in {"SV-TYPE-2", "SV-TYPE-3"})

    return cases.execute(CustomerRecord, customer_uuid(customer_id), command)


def _quarter(day: date) -> tuple[date, date]:
    start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    end = date(start.year + 1, 1, 1) if start.month == 10 else date(start.year, start.month + 3, 1)
    return start, end


def special_survey_check(cases: CaseApplication, counts: CaseCounts) -> SurveyCampaign | None:
    """SV-TYPE-4: complaints (service exceptions) this quarter more than 10 % up on the
    previous quarter make a special survey due within 15 working days. Once a quarter.
    From a quarter without complaints, any complaint is such a rise."""
    now = cases.clock.now()
    zone = cases.calendar.zone
    today = now.astimezone(zone).date()
    this_start, this_end = _quarter(today)
    last_start, _ = _quarter(this_start - timedelta(days=1))

    def instant(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone)

    current = counts.count_cases("exception", instant(this_start), instant(this_end))
    previous = counts.count_cases("exception", instant(last_start), instant(this_start))
    limit = previous * (1 + cases.policy.surveys.special_trigger_complaint_increase)
    if current <= limit:
        return None
    quarter = f"{this_start.year}-Q{(this_start.month - 1) // 3 + 1}"
    title = f"Special survey: complaints up in {quarter}"
    if counts.find_by_title("survey", title):
        return None
    ctx = CommandContext(actor=SYSTEM, at=now, correlation_id=f"trigger-{uuid.uuid4().hex}")
    rise = f"{current} complaints against {previous} the quarter before"
    plan = CampaignPlan(goals=f"find why complaints rose: {rise}", period_start=this_start,
                        period_end=this_end - timedelta(days=1), scope="complaining customers",
                        channels=(Channel.PHONE, Channel.ON_SITE),
                        owners=("customer service",), budget="special")
    campaign = SurveyCampaign.schedule(
        ctx, trigger=Trigger("SV-TYPE-4", rise, now), survey_type=SurveyType.SPECIAL,
        title=title, plan=plan, questionnaire=DEFAULT_PERIODIC,
        subtype=SurveySubtype.COMPLAINT_REPAIR)
    cases.save_many([campaign])
    return campaign


def new_service_launched(cases: CaseApplication, ctx: CommandContext, *, service: str,
                         launched_at: datetime) -> CommandResult:
    """SV-TYPE-4: a new service launched makes a special survey of it due within 15
    working days of the launch."""
    authorise(ctx, "new_service", ORGANISERS | APPROVERS)
    required_text("service", service)
    launched_at = business_instant(ctx, "launched_at", launched_at)
    start = launched_at.astimezone(cases.calendar.zone).date()
    plan = CampaignPlan(goals=f"how customers take the new service: {service}",
                        period_start=start, period_end=start + timedelta(days=90),
                        scope="customers offered the new service",
                        channels=(Channel.PHONE, Channel.ONLINE),
                        owners=("customer service",), budget="special")
    return cases.open(lambda: SurveyCampaign.schedule(
        ctx, trigger=Trigger("SV-TYPE-4", f"new service launched: {service}", launched_at),
        survey_type=SurveyType.SPECIAL, title=f"Special survey: new service {service}",
        plan=plan, questionnaire=DEFAULT_PERIODIC, subtype=SurveySubtype.NEW_PRODUCT_SERVICE))
