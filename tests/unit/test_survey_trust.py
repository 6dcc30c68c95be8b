"""What a survey's figures rest on, on the SurveyCampaign aggregate: the key-account
weight is the sampling frame's (SV-KPI-4), answers cannot predate their dispatch,
and a campaign flagged by SV-VALID-1 is reviewed before it reports (SV-REVIEW-1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from fractions import Fraction

import pytest

from domain.actors import Role
from domain.errors import InvalidInput, NotPermitted, StepMissing, WrongState
from domain.surveys.campaign import CampaignStatus, ReviewDecision, SurveyCampaign
from domain.surveys.responses import InvalidReason
from tests.unit.test_survey_campaign import ACTIVE, POLICY, answers, at, cs, recipient, running

START = at(2026, 10, 12, 9, 0)
NOW = at(2026, 10, 13, 10, 0)


def answered(campaign: SurveyCampaign, *, low: frozenset[str] = frozenset()) -> None:
    """Every customer 4s and 5s (all favourable), those in `low` 1s and 2s (none)."""
    unhappy = {key: 1 + value % 2 for key, value in answers().items()}
    for c in ACTIVE:
        campaign.record_response(cs(NOW), POLICY, respondent=f"{c.id}-r",
                                 started_at=NOW - timedelta(minutes=6), submitted_at=NOW,
                                 answers=unhappy if c.id in low else answers())


@pytest.mark.rule("SV-KPI-4")
def test_sv_kpi_4_the_key_account_weight_is_the_sampling_frame_s_not_the_caller_s() -> None:
    campaign = running(START)
    with pytest.raises(InvalidInput) as restated:  # C4 is not a key account in the frame
        campaign.dispatch(cs(START), (replace(recipient("C4"), key_account=True),))
    assert restated.value.field == "recipients.0.key_account"
    campaign.dispatch(cs(START), tuple(replace(recipient(c.id), key_account=None)
                                       for c in ACTIVE))
    assert {r.customer_id: r.key_account for r in campaign.recipients.values()} == {
        c.id: c.key_account for c in ACTIVE}
    answered(campaign, low=frozenset({"C0"}))  # a key account unhappy
    campaign.close(cs(NOW))
    result = campaign.clean(cs(NOW), POLICY, exclusions={}, seed=1)
    # C0 and C1 weigh 2: (0 + 2 * 14 + 3 * 14) / (2 * 14 + 2 * 14 + 3 * 14) favourable
    assert Fraction(result.favourable_rate) == Fraction(70, 98) * 100


@pytest.mark.rule("SV-KPI-4")
def test_sv_kpi_4_responses_of_an_earlier_release_are_weighed_by_the_frame() -> None:
    campaign = running(START)
    campaign.dispatch(cs(START), tuple(recipient(c.id) for c in ACTIVE))
    answered(campaign, low=frozenset({"C0"}))
    # as if C0 had been dispatched as a non-key account by a client restating it
    campaign.responses["C0#1"] = replace(campaign.responses["C0#1"], key_account=False)
    campaign.close(cs(NOW))
    result = campaign.clean(cs(NOW), POLICY, exclusions={}, seed=1)
    assert Fraction(result.favourable_rate) == Fraction(70, 98) * 100


def test_sv_valid_1_an_answer_cannot_start_before_the_campaign_did() -> None:
    campaign = running(START)
    campaign.dispatch(cs(START), (recipient("C0"),))
    with pytest.raises(InvalidInput) as early:
        campaign.record_response(cs(NOW), POLICY, respondent="C0-r",
                                 started_at=START - timedelta(minutes=1), submitted_at=NOW,
                                 answers=answers())
    assert early.value.field == "started_at"
    assert campaign.responses == {}


def flagged() -> SurveyCampaign:
    campaign = running(START)
    campaign.dispatch(cs(START), tuple(recipient(c.id) for c in ACTIVE))
    answered(campaign)
    campaign.close(cs(NOW))
    result = campaign.clean(cs(NOW), POLICY, exclusions={"C2-r": InvalidReason.MALICIOUS},
                            seed=1)
    assert result.flagged_for_review and result.excluded_share == "1/5"
    return campaign


@pytest.mark.rule("SV-REVIEW-1")
def test_sv_review_1_a_flagged_campaign_reports_only_after_a_reviewer_accepts_it() -> None:
    campaign = flagged()
    with pytest.raises(StepMissing) as unreviewed:
        campaign.report(cs(NOW), summary="Q4")
    assert unreviewed.value.missing_step == "cleaning_review"
    with pytest.raises(NotPermitted):
        campaign.review_cleaning(cs(NOW, Role.FRONTLINE), decision=ReviewDecision.ACCEPT,
                                 reason="fine")
    with pytest.raises(InvalidInput):
        campaign.review_cleaning(cs(NOW), decision=ReviewDecision.ACCEPT, reason=" ")
    campaign.review_cleaning(cs(NOW, Role.MANAGEMENT), decision=ReviewDecision.ACCEPT,
                             reason="the malicious response is plain")
    [review] = campaign.reviews
    assert (review.decision, review.excluded_share) == (ReviewDecision.ACCEPT, "1/5")
    with pytest.raises(WrongState):
        campaign.review_cleaning(cs(NOW), decision=ReviewDecision.ACCEPT, reason="again")
    campaign.report(cs(NOW), summary="Q4")
    assert campaign.status is CampaignStatus.REPORTED


@pytest.mark.rule("SV-REVIEW-1")
def test_sv_review_1_exclude_more_cleans_again_and_re_survey_runs_the_survey_again() -> None:
    campaign = flagged()
    campaign.review_cleaning(cs(NOW), decision=ReviewDecision.EXCLUDE_MORE,
                             reason="C3 contradicts itself too")
    assert campaign.status is CampaignStatus.CLOSED and campaign.cleaning is None
    campaign.clean(cs(NOW), POLICY, exclusions={"C2-r": InvalidReason.MALICIOUS,
                                                "C3-r": InvalidReason.CONTRADICTORY}, seed=1)
    with pytest.raises(StepMissing):  # the new cleaning is flagged too: reviewed again
        campaign.report(cs(NOW), summary="Q4")
    campaign.review_cleaning(cs(NOW), decision=ReviewDecision.RE_SURVEY,
                             reason="too few valid answers left")
    assert campaign.status is CampaignStatus.RUNNING and campaign.survey_closed_at is None
    campaign.dispatch(cs(NOW), (recipient("C2", cls=recipient("C2").respondent_class),))
    assert [r.decision for r in campaign.reviews] == [ReviewDecision.EXCLUDE_MORE,
                                                      ReviewDecision.RE_SURVEY]


def test_sv_review_1_an_unflagged_cleaning_needs_no_review() -> None:
    campaign = running(START)
    campaign.dispatch(cs(START), tuple(recipient(c.id) for c in ACTIVE))
    answered(campaign)
    campaign.close(cs(NOW))
    assert not campaign.clean(cs(NOW), POLICY, exclusions={}, seed=1).flagged_for_review
    with pytest.raises(WrongState):
        campaign.review_cleaning(cs(NOW), decision=ReviewDecision.ACCEPT, reason="fine")
    campaign.report(cs(NOW), summary="Q4")


@pytest.mark.rule("SV-FIND-1")
def test_sv_find_1_responses_of_earlier_releases_owe_no_exception_on_replay() -> None:
    """A ResponseRecorded event without `prompts_exception` (an earlier release's)
    replays as it was: nothing new is owed for it, even for an answer of 1."""
    campaign = running(START)
    campaign.dispatch(cs(START), (recipient("C0"),))
    campaign.record_response(cs(NOW), POLICY, respondent="C0-r",
                             started_at=NOW - timedelta(minutes=6), submitted_at=NOW,
                             answers=answers(price=1))
    assert list(campaign.exception_prompts) == ["C0#1"]
    events = campaign.collect_events()
    del events[-1].__dict__["prompts_exception"]  # as stored before SV-FIND-1's prompt
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed is not None and replayed.exception_prompts == {}


def test_a_version_2_survey_snapshot_loads_with_no_exception_prompts() -> None:
    from eventsourcing.domain import Snapshot

    campaign = flagged()
    taken = Snapshot.take(campaign)
    state = {k: v for k, v in taken.state.items() if k != "exception_prompts"}
    state["class_version"] = 2
    loaded = Snapshot(originator_id=campaign.id, originator_version=campaign.version,
                      timestamp=taken.timestamp, topic=taken.topic, state=state).mutate(None)
    assert loaded.exception_prompts == {} and loaded.review_pending


@pytest.mark.rule("SV-SAMPLE-1")
def test_sv_sample_1_the_sample_spreads_over_every_group_of_active_customers() -> None:
    from domain.surveys.sampling import SampleCustomer, check_sample

    active = (*ACTIVE, *(SampleCustomer(f"W{i}", False, "sme", "new", "west", "delivery")
                         for i in range(1)))
    everyone_but_west = [c.id for c in ACTIVE]  # 5 of 6 active: over 80 %
    result = check_sample(active, everyone_but_west, POLICY)
    assert result.active_share_ok and not result.missing_key_accounts
    assert result.missing_groups == {"tenure": ("new",), "region": ("west",),
                                     "scenario": ("delivery",)}
    assert not result.ok and "no region west customer sampled" in result.problems()
    assert check_sample(active, [*everyone_but_west, "W0"], POLICY).ok


@pytest.mark.rule("SV-SAMPLE-1")
def test_sv_sample_1_a_frame_other_than_the_directory_s_needs_management() -> None:
    campaign = running(START)  # sampled from ACTIVE as the directory's frame
    again = SurveyCampaign.draft(cs(START), survey_type=campaign.survey_type, title="again",
                                 plan=campaign.plan, questionnaire=campaign.questionnaire)
    again.approve_plan(cs(START, Role.MANAGEMENT))
    ids = tuple(c.id for c in ACTIVE)
    with pytest.raises(InvalidInput) as own:
        again.set_sample(cs(START), POLICY, active=ACTIVE, sample=ids,
                         frame_from_directory=False)
    assert own.value.field == "active"
    with pytest.raises(NotPermitted):
        again.set_sample(cs(START), POLICY, active=ACTIVE, sample=ids,
                         frame_from_directory=False, override_reason="directory not loaded")
    again.set_sample(cs(START, Role.MANAGEMENT), POLICY, active=ACTIVE, sample=ids,
                     frame_from_directory=False, override_reason="directory not loaded")
    assert again.sample_override == "directory not loaded"


@pytest.mark.rule("SV-RATE-1")
def test_sv_rate_1_the_on_site_share_is_of_all_the_period_s_enterprise_customers() -> None:
    """Four of five active enterprise customers sampled, one interviewed on site: 1/5
    of the period's enterprise customers (004), not 1/4 of those sampled."""
    from domain.surveys.campaign import Channel

    campaign = SurveyCampaign.draft(
        cs(START), survey_type=running(START).survey_type, title="Q4",
        plan=replace(running(START).plan, channels=(Channel.ONLINE, Channel.ON_SITE)),
        questionnaire=running(START).questionnaire)
    campaign.approve_plan(cs(START, Role.MANAGEMENT))
    campaign.set_sample(cs(START), POLICY, active=ACTIVE, sample=("C0", "C1", "C2", "C3"))
    campaign.start(cs(START))
    campaign.dispatch(cs(START), (recipient("C0", Channel.ON_SITE),
                                  *(recipient(c) for c in ("C1", "C2", "C3"))))
    answered_ids = ("C0", "C1", "C2", "C3")
    for c in answered_ids:
        campaign.record_response(cs(NOW), POLICY, respondent=f"{c}-r",
                                 started_at=NOW - timedelta(minutes=6), submitted_at=NOW,
                                 answers=answers())
    campaign.close(cs(NOW))
    result = campaign.clean(cs(NOW), POLICY, exclusions={}, seed=1)
    assert result.on_site_share == "1/5"


@pytest.mark.rule("SV-SAMPLE-2")
def test_sv_sample_2_call_backs_are_recorded_before_the_report_and_doubts_are_reviewed(
) -> None:
    campaign = running(START)
    campaign.dispatch(cs(START), tuple(recipient(c.id, delegated=c.id in {"C3", "C4"})
                                       for c in ACTIVE))
    answered(campaign)
    campaign.close(cs(NOW))
    [drawn] = campaign.clean(cs(NOW), POLICY, exclusions={}, seed=1).call_backs
    undrawn = ({"C3#1", "C4#1"} - {drawn}).pop()
    with pytest.raises(StepMissing) as uncalled:
        campaign.report(cs(NOW), summary="Q4")
    assert uncalled.value.missing_step == "call_backs"
    with pytest.raises(InvalidInput):
        campaign.record_call_back(cs(NOW), respondent=undrawn, confirmed=True, note="")
    with pytest.raises(InvalidInput) as no_note:
        campaign.record_call_back(cs(NOW), respondent=drawn, confirmed=False, note=" ")
    assert no_note.value.field == "note"
    campaign.record_call_back(cs(NOW), respondent=drawn, confirmed=False,
                              note="the office filled it in")
    with pytest.raises(WrongState):
        campaign.record_call_back(cs(NOW), respondent=drawn, confirmed=True, note="")
    assert campaign.review_pending  # an unconfirmed call-back goes before a reviewer
    with pytest.raises(StepMissing) as unreviewed:
        campaign.report(cs(NOW), summary="Q4")
    assert unreviewed.value.missing_step == "cleaning_review"
    campaign.review_cleaning(cs(NOW), decision=ReviewDecision.ACCEPT,
                             reason="one doubtful answer does not move the figures")
    campaign.report(cs(NOW), summary="Q4")


@pytest.mark.rule("SV-REVIEW-1")
def test_sv_review_1_an_acceptance_does_not_cover_a_doubt_found_after_it() -> None:
    campaign = running(START)
    campaign.dispatch(cs(START), tuple(recipient(c.id, delegated=c.id == "C4")
                                       for c in ACTIVE))
    answered(campaign)
    campaign.close(cs(NOW))
    campaign.clean(cs(NOW), POLICY, exclusions={"C2-r": InvalidReason.MALICIOUS}, seed=1)
    campaign.review_cleaning(cs(NOW), decision=ReviewDecision.ACCEPT, reason="fine")
    assert not campaign.review_pending
    campaign.record_call_back(cs(NOW), respondent="C4-r", confirmed=False, note="not them")
    assert campaign.review_pending


@pytest.mark.rule("SV-SAMPLE-2")
def test_sv_sample_2_too_few_a_class_respondents_surveyed_directly_is_reviewed() -> None:
    campaign = running(START)
    campaign.dispatch(cs(START), tuple(recipient(c.id, delegated=c.id != "C0")
                                       for c in ACTIVE))  # 1 of 5 A-class direct
    answered(campaign)
    campaign.close(cs(NOW))
    result = campaign.clean(cs(NOW), POLICY, exclusions={}, seed=1)
    assert not result.flagged_for_review and not result.a_class_direct_ok
    for drawn in result.call_backs:
        campaign.record_call_back(cs(NOW), respondent=drawn, confirmed=True, note="")
    assert campaign.review_pending
    with pytest.raises(StepMissing):
        campaign.report(cs(NOW), summary="Q4")


@pytest.mark.rule("SV-CH-1")
def test_sv_ch_1_a_questionnaire_may_come_back_by_mail_fax_e_mail_or_web() -> None:
    from domain.surveys.campaign import ReturnPath

    campaign = running(START)
    campaign.dispatch(cs(START), (recipient("C0"),))
    campaign.record_response(cs(NOW), POLICY, respondent="C0-r",
                             started_at=NOW - timedelta(minutes=6), submitted_at=NOW,
                             answers=answers(), return_path=ReturnPath.FAX)
    assert campaign.responses["C0#1"].return_path == "fax"
