"""Survey rules as pure functions: SV-Q-1, SV-VALID-1, SV-KPI-1..3, SV-RATE-1,
SV-SAMPLE-1/2, SV-FIND-1/2. The KPI data set is computed by hand in the comments."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest

from domain.errors import InvalidInput
from domain.policy import SurveyPolicy
from domain.surveys.findings import Grade, findings, triage
from domain.surveys.kpi import compute, response_rates
from domain.surveys.questionnaire import (
    DEFAULT_PERIODIC,
    UNABLE,
    Dimension,
    Item,
    Questionnaire,
)
from domain.surveys.responses import (
    InvalidReason,
    RespondentClass,
    Response,
    automatic_reasons,
    check_answers,
    needs_review,
)
from domain.surveys.sampling import (
    SampleCustomer,
    call_back_draw,
    check_sample,
    direct_a_class_ok,
)
from tests.conftest import T0

POLICY = SurveyPolicy()
U = UNABLE
SMALL = Questionnaire((
    Dimension("service", "service", (Item("s1", "s1"), Item("s2", "s2"))),
    Dimension("product", "product", (Item("p1", "p1"), Item("p2", "p2"))),
))
KEY_ACCOUNTS = {"C1", "C2", "C3"}


def response(customer: str, s1, s2, p1, p2, *, seconds: int = 120, who: str = "") -> Response:
    return Response(
        respondent=who or f"{customer}-a", customer_id=customer,
        key_account=customer in KEY_ACCOUNTS, respondent_class=RespondentClass.A,
        channel="online", delegated=False, started_at=T0,
        submitted_at=T0 + timedelta(seconds=seconds),
        answers={"s1": s1, "s2": s2, "p1": p1, "p2": p2})


# Ten customers; C1-C3 key accounts; C9 has two respondents; both of C10's are invalid.
DATA = [
    response("C1", 5, 5, 4, 5),    # 19/4 -> 95
    response("C2", 4, 5, 3, U),    # 12/3 -> 80 (not "higher than 80")
    response("C3", 3, 4, 2, 3),    # 12/4 -> 60
    response("C4", 5, 5, 5, 4),    # 95
    response("C5", 4, 5, 4, 5),    # 18/4 -> 90 (satisfied, not loyal)
    response("C6", 5, U, 5, 4),    # 14/3 -> 93.33
    response("C7", 2, 3, 1, 2),    # 8/4 -> 40
    response("C8", 4, 5, 5, 5),    # 95
    response("C9", 5, 4, 4, 4),    # pooled with the next: 28/7 -> 80
    response("C9", 3, U, 4, 4, who="C9-b"),
    response("C10", 1, 1, 2, 1, seconds=12),   # too fast
    response("C10", 5, 5, 5, 5, who="C10-b"),  # straight-lined
]


def valid() -> list[Response]:
    return [r for r in DATA if not automatic_reasons(SMALL, r, POLICY)]


def test_sv_q_1_the_default_questionnaire_is_4_dimensions_14_items() -> None:
    assert [d.key for d in DEFAULT_PERIODIC.dimensions] == [
        "personnel", "service", "product", "technology"]
    assert [len(d.items) for d in DEFAULT_PERIODIC.dimensions] == [2, 5, 4, 3]
    assert DEFAULT_PERIODIC.dimension_of("price") == "product"
    with pytest.raises(InvalidInput):
        Questionnaire((Dimension("a", "a", (Item("x", "x"), Item("x", "y"))),))


@pytest.mark.parametrize(("answers", "field"), [
    ({"s1": 0}, "answers.s1"), ({"s1": 6}, "answers.s1"), ({"s1": "great"}, "answers.s1"),
    ({"s1": True}, "answers.s1"), ({"q9": 3}, "answers.q9")])
def test_sv_q_1_answers_are_1_to_5_or_unable_to_comment_on_known_items(
        answers: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_answers(SMALL, answers)
    assert caught.value.field == field
    check_answers(SMALL, {"s1": 1, "s2": 5, "p1": U})


def test_sv_valid_1_automatic_reasons_and_the_review_flag() -> None:
    assert automatic_reasons(SMALL, DATA[10], POLICY) == (InvalidReason.TOO_FAST,)
    assert automatic_reasons(SMALL, DATA[11], POLICY) == (InvalidReason.STRAIGHT_LINED,)
    incomplete = Response("x", "C1", True, RespondentClass.B, "phone", False, T0,
                          T0 + timedelta(minutes=5), {"s1": 4, "s2": 5})
    assert automatic_reasons(SMALL, incomplete, POLICY) == (InvalidReason.INCOMPLETE,)
    assert automatic_reasons(SMALL, DATA[0], POLICY) == ()
    exactly_30 = response("C4", 5, 4, 5, 4, seconds=30)
    assert automatic_reasons(SMALL, exactly_30, POLICY) == ()
    assert len(valid()) == 10
    assert needs_review(responses=12, excluded=2, policy=POLICY)      # 16.7 % > 5 %
    assert not needs_review(responses=20, excluded=1, policy=POLICY)  # exactly 5 %


def test_sv_kpi_1_scores_per_customer_overall_dimension_and_item() -> None:
    kpis = compute(SMALL, valid(), POLICY)
    assert kpis.customer_scores == {
        "C1": 95, "C2": 80, "C3": 60, "C4": 95, "C5": 90, "C6": Fraction(280, 3),
        "C7": 40, "C8": 95, "C9": 80}
    assert kpis.customers_surveyed == 9  # C10 has no valid response
    assert kpis.overall_score == Fraction(149 * 20, 37)  # 149 points over 37 answers
    assert kpis.item_scores == {"s1": 80, "s2": 90, "p1": 74, "p2": 80}
    assert kpis.dimension_scores == {"service": Fraction(76 * 20, 18),
                                     "product": Fraction(73 * 20, 19)}


def test_sv_kpi_2_satisfaction_rate_and_loyalty_exclude_exactly_80_and_90() -> None:
    kpis = compute(SMALL, valid(), POLICY)
    assert kpis.satisfaction_rate == Fraction(5, 9) * 100  # C1 C4 C5 C6 C8 of 9
    assert kpis.loyalty == Fraction(4, 5) * 100            # C1 C4 C6 C8 of those 5
    assert kpis.targets_met(POLICY) == {"satisfaction_rate": False, "loyalty": True}
    # the targets are the policy's, not numbers in the code
    lenient = SurveyPolicy(target_satisfaction_rate=0.5, target_loyalty=81)
    assert kpis.targets_met(lenient) == {"satisfaction_rate": True, "loyalty": False}


@pytest.mark.rule("SV-KPI-2")
def test_sv_kpi_2_a_customer_who_could_not_comment_on_anything_was_still_surveyed() -> None:
    unable = response("C11", U, U, U, U)
    kpis = compute(SMALL, [*valid(), unable], POLICY)
    assert kpis.customers_surveyed == 10 and "C11" not in kpis.customer_scores
    assert kpis.satisfaction_rate == Fraction(5, 10) * 100


def test_sv_kpi_3_key_accounts_weigh_double_in_the_favourable_rate() -> None:
    kpis = compute(SMALL, valid(), POLICY)
    # sum(w f) = 8+4+2+4+4+3+0+4+6 = 35; sum(w n) = 8+6+8+4+4+3+4+4+7 = 48
    assert kpis.favourable_rate == Fraction(35, 48) * 100
    assert kpis.item_favourable["s1"] == Fraction(9, 13) * 100
    heavier = compute(SMALL, valid(), SurveyPolicy(key_account_weight=3))
    # with w = 3 for C1-C3: sum(w f) = 12+6+3+21 = 42; sum(w n) = 12+9+12+26 = 59
    assert heavier.favourable_rate == Fraction(42, 59) * 100
    assert heavier.key_account_weight == 3
    with pytest.raises(ValueError, match="SV-KPI-3"):
        SurveyPolicy(key_account_weight=1.5)


def test_sv_rate_1_response_rates_against_their_targets() -> None:
    rates = response_rates(dispatched=20, responded=13, online_dispatched=10,
                           online_responded=6, enterprise_customers=9, on_site_interviewed=2)
    assert (rates.questionnaire, rates.online) == (Fraction(13, 20), Fraction(3, 5))
    assert rates.against(POLICY) == {"questionnaire": False, "online": True, "on_site": True}


def customers(n: int, keys: int) -> list[SampleCustomer]:
    return [SampleCustomer(f"K{i}" if i < keys else f"S{i}", i < keys,
                           "key" if i < keys else "sme", "old" if i % 2 else "new",
                           "east" if i % 3 else "south", "after_sales") for i in range(n)]


def test_sv_sample_1_80_percent_of_active_and_every_key_account() -> None:
    active = customers(10, keys=3)
    ids = [c.id for c in active]
    ok = check_sample(active, ids[:8], POLICY)
    assert ok.ok and ok.sampled_active == 8
    assert ok.spread["size"] == {"key": 3, "sme": 5}
    too_few = check_sample(active, ids[:7], POLICY)
    assert not too_few.ok and "7 of 10" in too_few.problems()[0]
    missing_key = check_sample(active, ids[1:9], POLICY)
    assert missing_key.missing_key_accounts == ("K0",)
    assert not missing_key.ok


def test_sv_sample_2_a_third_of_a_class_direct_and_a_seeded_call_back_draw() -> None:
    assert direct_a_class_ok(9, 3, POLICY) and not direct_a_class_ok(9, 2, POLICY)
    assert direct_a_class_ok(0, 0, POLICY)
    delegated = [f"r{i}" for i in range(25)]
    first = call_back_draw(delegated, seed=20261122, policy=POLICY)
    assert len(first) == 3  # 10 % of 25, rounded up
    assert call_back_draw(list(reversed(delegated)), seed=20261122, policy=POLICY) == first
    assert call_back_draw(delegated, seed=7, policy=POLICY) != first
    assert call_back_draw(["only"], seed=1, policy=POLICY) == ("only",)


def test_sv_find_1_every_item_scored_1_or_2_is_a_finding() -> None:
    found = findings(valid())
    assert sorted((f.customer_id, f.item, f.score) for f in found) == [
        ("C3", "p1", 2), ("C7", "p1", 1), ("C7", "p2", 2), ("C7", "s1", 2)]


def test_sv_find_2_graded_ranked_and_the_top_20_percent_tracked() -> None:
    found = {(f.customer_id, f.item): f.grade for f in findings(valid())}
    assert found == {("C7", "p1"): Grade.MAJOR,    # very dissatisfied
                     ("C3", "p1"): Grade.KEY,      # p1 low for two customers: common
                     ("C7", "p2"): Grade.GENERAL, ("C7", "s1"): Grade.GENERAL}
    result = triage(findings(valid()), POLICY)
    assert [(f.customer_id, f.item) for f in result.tracked] == [("C7", "p1")]  # 20 % of 4
    assert [(f.customer_id, f.item) for f in result.notices] == [
        ("C3", "p1"), ("C7", "p2"), ("C7", "s1")]
