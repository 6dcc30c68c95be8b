"""The deadlines a survey campaign owes (SLA-1 for SV-*):

- SV-PLAN-1: a quarterly plan approved within the first 5 working days of its
  quarter; an annual plan by the end of December of the year before.
- SV-DISP-1: the whole sample dispatched within 3 working days of the start; a
  recipient without an answer 3 working days after dispatch gets a phone follow-up
  (due by the close of the next working day), then a reminder every week until it
  answers or the survey closes.
- SV-CLOSE-1: cleaning within 5 working days of close; the report within 3 working
  days of cleaning; a quarterly campaign's whole process within 18 working days of
  its start.
- SV-FIND-1: a response with an answer of 1 owes a linked service exception by the
  close of the next working day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from domain.calendar import BusinessCalendar
from domain.obligations import Obligation
from domain.policy import SurveyPolicy
from domain.surveys.campaign import ReminderKind, SurveyCampaign, SurveyType


def obligations(campaign: SurveyCampaign, policy: SurveyPolicy, calendar: BusinessCalendar,
                now: datetime) -> list[Obligation]:
    found = list(_plan(campaign, policy, calendar)) + list(_launch(campaign, policy, calendar))
    if campaign.started_at is not None:
        found += list(_dispatch(campaign, policy, calendar, now))
    found += list(_close(campaign, policy, calendar))
    found += list(_findings(campaign, policy, calendar))
    found += list(_ledger(campaign, policy, calendar))
    return found


def _ledger(c: SurveyCampaign, policy: SurveyPolicy,
            calendar: BusinessCalendar) -> Iterator[Obligation]:
    """SV-LEDGER-1 (003): a top-20 % finding's notice reaches its department within
    3 working days of the cleaning."""
    if c.cleaned_at is None:
        return
    for key, item in c.ledger_items().items():
        if item.tracked:
            entry = c.ledger.get(key)
            yield Obligation(
                key=f"SV-LEDGER-1@{key}", rule="SV-LEDGER-1",
                description=f"notify the department of {item.what} ({item.customer_id})",
                started_at=c.cleaned_at,
                due_at=calendar.add_working_days(c.cleaned_at,
                                                 policy.finding_notice_working_days),
                met_at=entry.notified_at if entry else None,
                responsible="customer service", level=c.survey_type.value)


def _findings(c: SurveyCampaign, policy: SurveyPolicy,
              calendar: BusinessCalendar) -> Iterator[Obligation]:
    """SV-FIND-1: a respondent very dissatisfied (an answer of 1) opens a service
    exception linked to the campaign at once: by the close of the next working day."""
    for respondent, prompt in c.exception_prompts.items():
        yield Obligation(
            key=f"SV-FIND-1@{respondent}", rule="SV-FIND-1",
            description=f"open a service exception for {respondent}, very dissatisfied",
            started_at=prompt.recorded_at,
            due_at=calendar.add_working_days(prompt.recorded_at,
                                             policy.finding_exception_working_days),
            met_at=prompt.opened_at, met_by_version=prompt.opened_version,
            responsible="customer service", level=c.survey_type.value)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _plan(c: SurveyCampaign, policy: SurveyPolicy,
          calendar: BusinessCalendar) -> Iterator[Obligation]:
    if c.survey_type is SurveyType.QUARTERLY:
        first = _quarter_start(c.plan.period_start)
        due = calendar.end_of_working_day(calendar.working_days_after(
            first - timedelta(days=1), policy.quarterly_plan_working_days))
        what = "approve the quarterly plan in the quarter's first working days"
    elif c.survey_type is SurveyType.ANNUAL:
        due = calendar.end_of_day(date(c.plan.period_start.year - 1, 12, 31))
        what = "approve the annual plan by the end of December before"
    else:
        return
    yield Obligation(key="SV-PLAN-1", rule="SV-PLAN-1", description=what,
                     started_at=min(c.planned_at, due), due_at=due, met_at=c.approved_at,
                     met_by_version=c.approved_version, responsible="management",
                     level=c.survey_type.value)


def _launch(c: SurveyCampaign, policy: SurveyPolicy,
            calendar: BusinessCalendar) -> Iterator[Obligation]:
    """SV-TYPE-2/3/4: a triggered campaign is owed a start by its deadline."""
    trigger = c.trigger
    if trigger is None:
        return
    if trigger.rule == "SV-TYPE-2":
        days = policy.instant_launch_by_node.get(trigger.node_type or "",
                                                 policy.instant_launch_working_days)
        due = calendar.add_working_days(trigger.start, days)
    elif trigger.rule == "SV-TYPE-4":
        due = calendar.add_working_days(trigger.start, policy.special_due_working_days)
    elif trigger.due_date is not None:
        due = calendar.end_of_day(trigger.due_date)
    else:
        due = calendar.add_months(trigger.start, trigger.months or 0)
    yield Obligation(key=trigger.rule, rule=trigger.rule, description=f"launch: {trigger.source}",
                     started_at=min(trigger.start, due), due_at=due, met_at=c.started_at,
                     responsible="customer service", level=c.survey_type.value)


def _dispatch(c: SurveyCampaign, policy: SurveyPolicy, calendar: BusinessCalendar,
              now: datetime) -> Iterator[Obligation]:
    assert c.started_at is not None
    due = calendar.add_working_days(c.started_at, policy.dispatch_working_days)
    reached = {r.customer_id: c.dispatched_at[r.respondent] for r in c.recipients.values()}
    complete = all(customer in reached for customer in c.sample)
    yield Obligation(
        key="SV-DISP-1", rule="SV-DISP-1", description="dispatch to the whole sample",
        started_at=c.started_at, due_at=due,
        met_at=max(reached.values()) if complete and reached else None,
        responsible="customer service", level=c.survey_type.value)
    end = c.survey_closed_at or now
    for respondent, sent in c.dispatched_at.items():
        answered = c.responses.get(respondent)
        answered_at = answered.submitted_at if answered else None
        silent_from = calendar.add_working_days(sent, policy.phone_follow_up_working_days)
        if answered_at is not None and answered_at <= silent_from:
            continue
        if c.survey_closed_at is not None and c.survey_closed_at <= silent_from:
            continue
        reminders = [at for who, kind, at in c.reminders if who == respondent]
        follow_ups = [at for who, kind, at in c.reminders
                      if who == respondent and kind is ReminderKind.PHONE_FOLLOW_UP]
        follow_up_due = calendar.add_working_days(silent_from, 1)
        yield Obligation(
            key=f"SV-DISP-1@{respondent}/follow-up", rule="SV-DISP-1",
            description=f"phone follow-up of {respondent}", started_at=silent_from,
            due_at=follow_up_due, met_at=min(follow_ups) if follow_ups else answered_at,
            responsible="customer service", level=c.survey_type.value)
        week, start = 1, follow_up_due
        while start < min(end, answered_at or end):
            due_week = start + policy.reminder_interval
            sent_in_week = [at for at in reminders if start < at <= due_week]
            yield Obligation(
                key=f"SV-DISP-1@{respondent}/week-{week}", rule="SV-DISP-1",
                description=f"weekly reminder {week} to {respondent}", started_at=start,
                due_at=due_week, met_at=min(sent_in_week) if sent_in_week else None,
                void_by_version=None, responsible="customer service",
                level=c.survey_type.value)
            week, start = week + 1, due_week


def _close(c: SurveyCampaign, policy: SurveyPolicy,
           calendar: BusinessCalendar) -> Iterator[Obligation]:
    if c.survey_closed_at is not None:
        yield Obligation(
            key="SV-CLOSE-1/cleaning", rule="SV-CLOSE-1", description="clean the data",
            started_at=c.survey_closed_at,
            due_at=calendar.add_working_days(c.survey_closed_at, policy.cleaning_working_days),
            met_at=c.cleaned_at, responsible="customer service", level=c.survey_type.value)
    if c.cleaned_at is not None:
        yield Obligation(
            key="SV-CLOSE-1/report", rule="SV-CLOSE-1", description="write the analysis report",
            started_at=c.cleaned_at,
            due_at=calendar.add_working_days(c.cleaned_at, policy.report_working_days),
            met_at=c.reported_at, responsible="customer service", level=c.survey_type.value)
    if c.survey_type is SurveyType.QUARTERLY and c.started_at is not None:
        yield Obligation(
            key="SV-CLOSE-1/process", rule="SV-CLOSE-1",
            description="finish the quarterly campaign, start to report",
            started_at=c.started_at,
            due_at=calendar.add_working_days(c.started_at,
                                             policy.quarterly_process_working_days),
            met_at=c.reported_at, responsible="customer service", level=c.survey_type.value)
