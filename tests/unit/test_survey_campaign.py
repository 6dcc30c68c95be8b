"""The SurveyCampaign aggregate and its deadlines, with a frozen clock:
SV-TYPE-1, SV-PLAN-1, SV-SAMPLE-1, SV-CH-1, SV-DISP-1, SV-VALID-1, SV-CLOSE-1,
SV-REP-1, SV-FIND-1."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.actors import Role
from domain.errors import InvalidInput, NotPermitted, StepMissing, WrongState
from domain.obligations import ObligationState
from domain.policy import SurveyPolicy
from domain.surveys.campaign import (
    CampaignPlan,
    CampaignStatus,
    Channel,
    Recipient,
    ReminderKind,
    ReviewDecision,
    SurveyCampaign,
    SurveyType,
)
from domain.surveys.obligations import obligations
from domain.surveys.questionnaire import DEFAULT_PERIODIC, UNABLE
from domain.surveys.responses import InvalidReason, RespondentClass
from domain.surveys.sampling import SampleCustomer
from infrastructure.holiday_calendar import HolidayCalendar
from tests.factories import ctx

CST = ZoneInfo("Asia/Shanghai")
CAL = HolidayCalendar()
POLICY = SurveyPolicy()
Q4 = CampaignPlan(goals="measure Q4 satisfaction", period_start=date(2026, 10, 1),
                  period_end=date(2026, 12, 31), scope="Q4 customers",
                  channels=(Channel.ONLINE, Channel.PHONE), owners=("qian",), budget="CNY 20k")
ACTIVE = tuple(SampleCustomer(f"C{i}", i < 2, "key" if i < 2 else "sme", "old", "east",
                              "after_sales") for i in range(5))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


def cs(when: datetime, *roles: Role):
    return ctx(when, *(roles or (Role.CS_HEAD,)), user="qian")


def answers(score: int | None = None, **overrides) -> dict:
    values = {key: score if score is not None else 4 + (i % 2)
              for i, key in enumerate(DEFAULT_PERIODIC.item_keys)}
    return values | overrides


def running(start: datetime) -> SurveyCampaign:
    campaign = SurveyCampaign.draft(cs(start - timedelta(days=1)), survey_type=SurveyType.QUARTERLY,
                                    title="Q4 2026", plan=Q4, questionnaire=DEFAULT_PERIODIC)
    campaign.approve_plan(ctx(start - timedelta(hours=20), Role.MANAGEMENT, user="boss"))
    campaign.set_sample(cs(start), POLICY, active=ACTIVE, sample=tuple(c.id for c in ACTIVE))
    campaign.start(cs(start))
    return campaign


def recipient(customer: str, channel: Channel = Channel.ONLINE, *, delegated: bool = False,
              cls: RespondentClass = RespondentClass.A) -> Recipient:
    return Recipient(f"{customer}-r", customer, customer in {"C0", "C1"}, cls, channel, delegated)


def owed(campaign: SurveyCampaign, now: datetime) -> dict:
    return {o.key: o for o in obligations(campaign, POLICY, CAL, now)}


def test_sv_type_1_campaign_types() -> None:
    assert {t.value for t in SurveyType} == {"instant", "quarterly", "annual", "special",
                                             "sudden"}


def test_sv_plan_1_a_quarterly_plan_is_due_in_the_quarters_first_5_working_days() -> None:
    campaign = SurveyCampaign.draft(cs(at(2026, 9, 28, 10, 0)), survey_type=SurveyType.QUARTERLY,
                                    title="Q4", plan=Q4, questionnaire=DEFAULT_PERIODIC)
    plan = owed(campaign, at(2026, 9, 28, 10, 0))["SV-PLAN-1"]
    # Oct 1-7 are holidays: the 8th, 9th, 10th (Sat, adjusted), 12th, 13th.
    assert plan.due_at == at(2026, 10, 13, 18, 0)
    with pytest.raises(NotPermitted):
        campaign.approve_plan(cs(at(2026, 10, 9, 10, 0)))
    campaign.approve_plan(ctx(at(2026, 10, 9, 10, 0), Role.MANAGEMENT))
    plan = owed(campaign, at(2026, 10, 9, 10, 0))["SV-PLAN-1"]
    assert plan.state_at(at(2026, 12, 1, 0, 0)) is ObligationState.MET


def test_sv_plan_1_an_annual_plan_by_the_end_of_december_before() -> None:
    annual = CampaignPlan("year", date(2027, 1, 1), date(2027, 12, 31), "all",
                          (Channel.ONLINE,), ("qian",), "CNY 80k")
    campaign = SurveyCampaign.draft(cs(at(2026, 12, 1, 9, 0)), survey_type=SurveyType.ANNUAL,
                                    title="2027", plan=annual, questionnaire=DEFAULT_PERIODIC)
    assert owed(campaign, at(2026, 12, 1, 9, 0))["SV-PLAN-1"].due_at == at(2027, 1, 1, 0, 0)


def test_sv_sample_1_a_short_sample_needs_managements_override_with_a_reason() -> None:
    campaign = SurveyCampaign.draft(cs(at(2026, 10, 8, 9, 0)), survey_type=SurveyType.QUARTERLY,
                                    title="Q4", plan=Q4, questionnaire=DEFAULT_PERIODIC)
    with pytest.raises(StepMissing):
        campaign.set_sample(cs(at(2026, 10, 8, 9, 0)), POLICY, active=ACTIVE, sample=("C0",))
    campaign.approve_plan(ctx(at(2026, 10, 8, 9, 0), Role.MANAGEMENT))
    with pytest.raises(InvalidInput) as short:
        campaign.set_sample(cs(at(2026, 10, 8, 9, 0)), POLICY, active=ACTIVE,
                            sample=("C0", "C2", "C3"))
    assert short.value.field == "sample" and "C1" in short.value.detail
    with pytest.raises(NotPermitted):
        campaign.set_sample(cs(at(2026, 10, 8, 9, 0)), POLICY, active=ACTIVE,
                            sample=("C0", "C2", "C3"), override_reason="C1 closed its plant")
    campaign.set_sample(ctx(at(2026, 10, 8, 9, 0), Role.MANAGEMENT), POLICY, active=ACTIVE,
                        sample=("C0", "C2", "C3"), override_reason="C1 closed its plant")
    assert campaign.sample_override == "C1 closed its plant"


def test_sv_disp_1_dispatch_follow_up_and_weekly_reminders() -> None:
    start = at(2026, 10, 12, 9, 0)  # Monday
    campaign = running(start)
    campaign.dispatch(cs(at(2026, 10, 13, 10, 0)), tuple(recipient(c.id) for c in ACTIVE[:4]))
    late = owed(campaign, at(2026, 10, 16, 9, 0))
    assert late["SV-DISP-1"].due_at == at(2026, 10, 15, 18, 0)  # 3 working days
    assert late["SV-DISP-1"].state_at(at(2026, 10, 16, 9, 0)) is ObligationState.BREACHED
    campaign.dispatch(cs(at(2026, 10, 16, 10, 0)), (recipient("C4"),))
    assert owed(campaign, at(2026, 10, 16, 11, 0))["SV-DISP-1"].met_at == at(2026, 10, 16, 10, 0)
    now = at(2026, 10, 30, 9, 0)
    items = owed(campaign, now)
    follow_up = items["SV-DISP-1@C0#1/follow-up"]
    # Silent 3 working days after Tue 13 -> Fri 16; the follow-up is due by Mon 19.
    assert (follow_up.started_at, follow_up.due_at) == (at(2026, 10, 16, 18, 0),
                                                        at(2026, 10, 19, 18, 0))
    campaign.remind(cs(at(2026, 10, 19, 15, 0)), respondent="C0-r",
                    kind=ReminderKind.PHONE_FOLLOW_UP)
    items = owed(campaign, now)
    assert items["SV-DISP-1@C0#1/follow-up"].state_at(now) is ObligationState.MET
    assert items["SV-DISP-1@C0#1/week-1"].due_at == at(2026, 10, 26, 18, 0)
    assert items["SV-DISP-1@C0#1/week-1"].state_at(now) is ObligationState.BREACHED


def test_sv_ch_1_and_sv_valid_1_responses_checked_and_kept_with_reasons() -> None:
    start = at(2026, 10, 12, 9, 0)
    campaign = running(start)
    campaign.dispatch(cs(start), (recipient("C0"), recipient("C1", Channel.PHONE)))
    now = at(2026, 10, 14, 10, 0)
    with pytest.raises(InvalidInput) as zero:
        campaign.record_response(cs(now), POLICY, respondent="C0-r", started_at=now,
                                 submitted_at=now, answers=answers(price=0))
    assert zero.value.field == "answers.price"
    with pytest.raises(InvalidInput) as unknown:
        campaign.record_response(cs(now), POLICY, respondent="C0-r", started_at=now,
                                 submitted_at=now, answers=answers(colour=3))
    assert unknown.value.field == "answers.colour"
    with pytest.raises(InvalidInput) as stranger:
        campaign.record_response(cs(now), POLICY, respondent="nobody", started_at=now,
                                 submitted_at=now, answers=answers())
    assert stranger.value.field == "respondent"
    campaign.record_response(cs(now), POLICY, respondent="C0-r",
                             started_at=now - timedelta(seconds=20), submitted_at=now,
                             answers=answers())
    assert campaign.response_reasons["C0#1"] == (InvalidReason.TOO_FAST,)
    with pytest.raises(InvalidInput) as twice:
        campaign.record_response(cs(now), POLICY, respondent="C0-r",
                                 started_at=now - timedelta(minutes=5), submitted_at=now,
                                 answers=answers())
    assert "already answered" in twice.value.detail
    interview = now - timedelta(hours=30)  # a phone interview typed in 30 hours later
    campaign.record_response(cs(now), POLICY, respondent="C1-r",
                             started_at=interview - timedelta(minutes=10),
                             submitted_at=interview, answers=answers())
    assert campaign.late_entries == ["C1#1"]  # SV-CH-1: kept, marked late


def test_sv_close_1_and_sv_rep_1_cleaning_then_report_each_on_time() -> None:
    start = at(2026, 10, 12, 9, 0)
    campaign = running(start)
    campaign.dispatch(cs(start), tuple(recipient(c.id) for c in ACTIVE))
    now = at(2026, 10, 13, 10, 0)
    for i, c in enumerate(ACTIVE):
        campaign.record_response(cs(now), POLICY, respondent=f"{c.id}-r",
                                 started_at=now - timedelta(minutes=6), submitted_at=now,
                                 answers=answers(price=1 if i == 4 else 4,
                                                 solution=UNABLE))
    with pytest.raises(StepMissing):
        campaign.report(cs(now), summary="too early")
    campaign.close(cs(at(2026, 10, 20, 18, 0)))
    with pytest.raises(WrongState):
        campaign.record_response(cs(now), POLICY, respondent="C0-r", started_at=now,
                                 submitted_at=now, answers=answers())
    cleaning = owed(campaign, at(2026, 10, 21, 9, 0))["SV-CLOSE-1/cleaning"]
    assert cleaning.due_at == at(2026, 10, 27, 18, 0)  # 5 working days after Tue 20
    result = campaign.clean(cs(at(2026, 10, 22, 10, 0)), POLICY,
                            exclusions={"C2-r": InvalidReason.MALICIOUS}, seed=42)
    assert campaign.status is CampaignStatus.CLEANED
    assert [(e.respondent, e.reasons) for e in result.excluded] == [
        ("C2#1", (InvalidReason.MALICIOUS,))]
    assert result.flagged_for_review  # 1 of 5 excluded: over 5 %
    assert result.customers_surveyed == 4
    assert result.key_account_weight == 2 and result.min_fill_seconds == 30
    assert [(f.customer_id, f.item) for f in result.tracked_findings] == [("C4", "price")]
    # SV-KPI-1 per customer type: each response scores 58 on 13 items (price 4, solution
    # unable), C4's 55 (price 1); C2 is excluded. key: C0 C1 = 116/26; sme: C3 C4 = 113/26.
    assert result.scores_by_size == {"key": "1160/13", "sme": "1130/13"}
    assert set(result.scores_by_tenure) == {"old"} and set(result.scores_by_scenario) == {
        "after_sales"}
    # SV-RATE-1: 5 of 5 answered, all online; no on-site interviews.
    assert (result.response_rate, result.online_response_rate, result.on_site_share) == (
        "1", "1", "0")
    assert result.rate_targets_met == {"questionnaire": True, "online": True,
                                       "on_site": False}
    assert result.previous_campaign is None
    report = owed(campaign, at(2026, 10, 22, 11, 0))["SV-CLOSE-1/report"]
    assert report.due_at == at(2026, 10, 27, 18, 0)  # 3 working days after Thu 22
    assert result.excluded_share == "1/5"
    campaign.review_cleaning(cs(at(2026, 10, 23, 15, 0)), decision=ReviewDecision.ACCEPT,
                             reason="one malicious response, the rest stands")
    campaign.report(cs(at(2026, 10, 23, 16, 0)), summary="Q4: 4 customers, one price issue")
    process = owed(campaign, at(2026, 10, 23, 17, 0))["SV-CLOSE-1/process"]
    assert process.state_at(at(2026, 11, 30, 0, 0)) is ObligationState.MET
    assert campaign.closed_at == at(2026, 10, 23, 16, 0)


def test_sv_plan_1_implausible_plan_dates_are_refused() -> None:
    far = CampaignPlan("g", date(1, 1, 1), date(1, 12, 31), "s", (Channel.ONLINE,), ("q",), "b")
    with pytest.raises(InvalidInput) as caught:
        SurveyCampaign.draft(cs(at(2026, 10, 1, 9, 0)), survey_type=SurveyType.ANNUAL,
                             title="year 1", plan=far, questionnaire=DEFAULT_PERIODIC)
    assert caught.value.field == "plan.period_start"
