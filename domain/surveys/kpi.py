"""Survey KPIs (SV-KPI-1..3, SV-RATE-1), computed exactly (fractions) from the valid
responses; callers round for display only.

- SV-KPI-1: a customer's score is the mean of its valid scored answers (all its
  respondents pooled), mapped to 0-100 (x20); the overall score is the mean of all
  valid scored answers x20; likewise per dimension and per item.
- SV-KPI-2: satisfaction rate = customers scoring > 80 / customers surveyed x 100 %;
  loyalty = customers > 90 / customers > 80 x 100. "Surveyed" means at least one
  valid response (one that answered every item `unable_to_comment` too: the
  customer was surveyed and has no score); exactly 80 or 90 do not count.
- SV-KPI-3: favourable (4 or 5) rate = sum(w_c f_c) / sum(w_c n_c), w = the
  key-account weight for key accounts, 1 otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from domain.policy import SurveyPolicy
from domain.surveys.questionnaire import Questionnaire
from domain.surveys.responses import Response


def _mean(values: Sequence[int]) -> Fraction | None:
    return Fraction(sum(values), len(values)) if values else None


def _score(values: Sequence[int], points: int) -> Fraction:
    """Mean answer mapped to 0-100; `values` is never empty here."""
    return Fraction(sum(values), len(values)) * points


@dataclass(frozen=True)
class Kpis:
    customers_surveyed: int
    customer_scores: dict[str, Fraction]
    overall_score: Fraction | None
    dimension_scores: dict[str, Fraction]
    item_scores: dict[str, Fraction]
    satisfaction_rate: Fraction | None
    """Percent."""
    loyalty: Fraction | None
    favourable_rate: Fraction | None
    """Percent, key-account weighted."""
    dimension_favourable: dict[str, Fraction]
    item_favourable: dict[str, Fraction]
    key_account_weight: Fraction

    def targets_met(self, policy: SurveyPolicy) -> dict[str, bool | None]:
        """SV-KPI-2's targets from the policy in force (None: nothing to judge)."""
        def meets(value: Fraction | None, target: Fraction) -> bool | None:
            return None if value is None else value >= target

        return {"satisfaction_rate": meets(self.satisfaction_rate, Fraction(
                    policy.target_satisfaction_rate).limit_denominator(1000) * 100),
                "loyalty": meets(self.loyalty,
                                 Fraction(policy.target_loyalty).limit_denominator(1000))}


def compute(questionnaire: Questionnaire, valid: Iterable[Response],
            policy: SurveyPolicy) -> Kpis:
    points = policy.score_per_point
    weight_key = Fraction(policy.key_account_weight).limit_denominator(1000)
    by_customer: dict[str, list[int]] = defaultdict(list)
    key_accounts: set[str] = set()
    by_item: dict[str, list[int]] = defaultdict(list)
    by_dimension: dict[str, list[int]] = defaultdict(list)
    favourable_parts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    surveyed_customers: set[str] = set()
    for response in valid:
        surveyed_customers.add(response.customer_id)
        if response.key_account:
            key_accounts.add(response.customer_id)
        for item, score in response.scored().items():
            by_customer[response.customer_id].append(score)
            by_item[item].append(score)
            dimension = questionnaire.dimension_of(item)
            by_dimension[dimension].append(score)
            favourable_parts[response.customer_id][item].append(score)

    customer_scores = {c: _score(s, points) for c, s in by_customer.items() if s}
    all_scores = [s for scores in by_customer.values() for s in scores]
    overall = _mean(all_scores)
    satisfied = [c for c, s in customer_scores.items() if s > policy.satisfied_above]
    loyal = [c for c, s in customer_scores.items() if s > policy.loyal_above]
    surveyed = len(surveyed_customers)

    def weight(customer: str) -> Fraction:
        return weight_key if customer in key_accounts else Fraction(1)

    def favourable(select: str | None = None, within: str | None = None) -> Fraction | None:
        numerator = denominator = Fraction(0)
        for customer, items in favourable_parts.items():
            for item, scores in items.items():
                if select is not None and item != select:
                    continue
                if within is not None and questionnaire.dimension_of(item) != within:
                    continue
                numerator += weight(customer) * sum(1 for s in scores if s >= 4)
                denominator += weight(customer) * len(scores)
        return numerator / denominator * 100 if denominator else None

    return Kpis(
        customers_surveyed=surveyed,
        customer_scores=customer_scores,
        overall_score=overall * points if overall is not None else None,
        dimension_scores={d: _score(s, points) for d, s in by_dimension.items()},
        item_scores={i: _score(s, points) for i, s in by_item.items()},
        satisfaction_rate=Fraction(len(satisfied), surveyed) * 100 if surveyed else None,
        loyalty=Fraction(len(loyal), len(satisfied)) * 100 if satisfied else None,
        favourable_rate=favourable(),
        dimension_favourable={d.key: v for d in questionnaire.dimensions
                              if (v := favourable(within=d.key)) is not None},
        item_favourable={i: v for i in questionnaire.item_keys
                         if (v := favourable(select=i)) is not None},
        key_account_weight=weight_key,
    )


def scores_by(valid: Iterable[Response], group_of: dict[str, str],
              policy: SurveyPolicy) -> dict[str, Fraction]:
    """SV-KPI-1 per customer type or service step: the mean of the valid scored answers
    of each group's customers, x20. `group_of` maps customer ids to their group."""
    groups: dict[str, list[int]] = defaultdict(list)
    for response in valid:
        group = group_of.get(response.customer_id)
        if group is not None:
            groups[group].extend(response.scored().values())
    return {g: _score(s, policy.score_per_point) for g, s in sorted(groups.items()) if s}


@dataclass(frozen=True)
class ResponseRates:
    """SV-RATE-1, each with its target."""

    questionnaire: Fraction | None
    online: Fraction | None
    on_site_enterprise_share: Fraction | None

    def against(self, policy: SurveyPolicy) -> dict[str, bool | None]:
        def meets(value: Fraction | None, target: float) -> bool | None:
            return None if value is None else value >= Fraction(target).limit_denominator(1000)

        return {"questionnaire": meets(self.questionnaire, policy.target_response_rate),
                "online": meets(self.online, policy.target_online_response_rate),
                "on_site": meets(self.on_site_enterprise_share, policy.target_on_site_share)}


def response_rates(dispatched: int, responded: int, online_dispatched: int,
                   online_responded: int, enterprise_customers: int,
                   on_site_interviewed: int) -> ResponseRates:
    def ratio(a: int, b: int) -> Fraction | None:
        return Fraction(a, b) if b else None

    return ResponseRates(ratio(responded, dispatched), ratio(online_responded, online_dispatched),
                         ratio(on_site_interviewed, enterprise_customers))
