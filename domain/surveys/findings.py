"""Findings (SV-FIND-1, SV-FIND-2): every item a customer scored 1 or 2 needs an
improvement action; findings are graded general / key / major and ranked by
severity; the top 20 % become tracked corrective actions, the rest internal notices.

Grades follow 000 art. 10: *major* is strong dissatisfaction (a 1, "very
dissatisfied"); *key* is a common problem (the same item scored 1 or 2 by several
customers); *general* is an individual, milder one (a 2 from one customer).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from domain.policy import SurveyPolicy
from domain.surveys.responses import Response


class Grade(Enum):
    GENERAL = "general"
    KEY = "key"
    MAJOR = "major"


_SEVERITY = {Grade.MAJOR: 3, Grade.KEY: 2, Grade.GENERAL: 1}


@dataclass(frozen=True)
class Finding:
    customer_id: str
    item: str
    score: int
    respondent: str
    key_account: bool
    grade: Grade


STRONGLY_DISSATISFIED = 1
"""SV-FIND-1: "very dissatisfied": a major finding, and a service exception at once."""
DISSATISFIED = 2
"""SV-FIND-1: an answer of 1 or 2 needs an improvement action."""


def findings(valid: Iterable[Response]) -> list[Finding]:
    """SV-FIND-1: each item scored 1 or 2, graded against all the others."""
    low = [(r, item, score) for r in valid for item, score in sorted(r.scored().items())
           if score <= DISSATISFIED]
    customers_per_item = Counter({item: len(customers) for item, customers
                                  in _group(low).items()})

    def grade(item: str, score: int) -> Grade:
        if score == STRONGLY_DISSATISFIED:
            return Grade.MAJOR
        return Grade.KEY if customers_per_item[item] > 1 else Grade.GENERAL

    return [Finding(r.customer_id, item, score, r.respondent, r.key_account,
                    grade(item, score)) for r, item, score in low]


def _group(low: list[tuple[Response, str, int]]) -> dict[str, set[str]]:
    customers: dict[str, set[str]] = {}
    for response, item, _ in low:
        customers.setdefault(item, set()).add(response.customer_id)
    return customers


@dataclass(frozen=True)
class Triage:
    tracked: tuple[Finding, ...]
    """Top share by severity: tracked corrective actions (客户意见处理单)."""
    notices: tuple[Finding, ...]
    """The rest: internal notices (内部联络单)."""


def triage(found: Iterable[Finding], policy: SurveyPolicy) -> Triage:
    """SV-FIND-2: rank by grade, key accounts first, then by score, then stably."""
    ranked = sorted(found, key=lambda f: (-_SEVERITY[f.grade], not f.key_account, f.score,
                                          f.customer_id, f.item))
    cut = math.ceil(len(ranked) * policy.tracked_findings_share - 1e-9)
    return Triage(tracked=tuple(ranked[:cut]), notices=tuple(ranked[cut:]))
