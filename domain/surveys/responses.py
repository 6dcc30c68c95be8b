"""Survey responses and their validity (SV-VALID-1).

Automatic checks: incomplete (an item without an answer), filled in under the
minimum time, straight-lined (every scored answer the same value). Contradictory
and malicious responses are judged by people during cleaning and excluded with
that reason. Invalid responses are kept, with their reasons, but excluded from
every figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from domain.calendar import utc
from domain.errors import InvalidInput
from domain.personal import PERSONAL
from domain.policy import SurveyPolicy
from domain.surveys.questionnaire import UNABLE, Questionnaire


class RespondentClass(Enum):
    """SV-SAMPLE-2 (003): A decides purchases, B takes part, C uses the product."""

    A = "A"
    B = "B"
    C = "C"


class InvalidReason(Enum):
    INCOMPLETE = "incomplete"
    TOO_FAST = "too_fast"
    STRAIGHT_LINED = "straight_lined"
    CONTRADICTORY = "contradictory"
    MALICIOUS = "malicious"


Answer = int | str
"""1-5, or `unable_to_comment`."""


class OpinionKind(Enum):
    """SV-TEXT-1 (000, 004): what a free-text answer is about."""

    MOST_SATISFIED = "most_satisfied"        # the step the customer is most satisfied with
    IMPROVEMENT = "improvement"              # what most needs improving
    WISHED_SERVICE = "wished_service"        # services the customer wishes for
    OTHER = "other"


class OpinionCategory(Enum):
    """SV-TEXT-1 (004): the four categories opinions are classified into."""

    EQUIPMENT = "equipment"  # 设备类
    SERVICE = "service"      # 服务类
    PROCESS = "process"      # 流程类
    POLICY = "policy"        # 政策类


class Priority(Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Opinion:
    """SV-TEXT-1: a free-text opinion or suggestion: personal data (it may name
    people), sealed under the key of its customer (RET-4)."""

    customer_id: str
    kind: OpinionKind
    text: str = field(metadata=PERSONAL)


@dataclass(frozen=True)
class Response:
    respondent: str
    customer_id: str
    key_account: bool
    respondent_class: RespondentClass
    channel: str
    delegated: bool
    started_at: datetime
    submitted_at: datetime
    answers: dict[str, Answer]
    opinions: tuple[Opinion, ...] = ()
    return_path: str | None = None
    """SV-CH-1: mail, fax, e-mail or web, when it came back another way than it went."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "started_at", utc(self.started_at, "started_at"))
        object.__setattr__(self, "submitted_at", utc(self.submitted_at, "submitted_at"))
        object.__setattr__(self, "opinions", tuple(self.opinions))

    def scored(self) -> dict[str, int]:
        return {k: v for k, v in self.answers.items() if isinstance(v, int)}


def check_answers(questionnaire: Questionnaire, answers: dict[str, Answer]) -> None:
    """Refuse answers to unknown items and answers outside 1-5 (SEC-IN-1)."""
    known = set(questionnaire.item_keys)
    for key, value in answers.items():
        if key not in known:
            raise InvalidInput(f"answers.{key}", f"{key!r} is not an item of this survey")
        if value != UNABLE and (isinstance(value, bool) or not isinstance(value, int)
                                or not 1 <= value <= 5):
            raise InvalidInput(f"answers.{key}",
                               f"an answer is 1 to 5 or {UNABLE!r}, not {value!r}")


def automatic_reasons(questionnaire: Questionnaire, response: Response,
                      policy: SurveyPolicy) -> tuple[InvalidReason, ...]:
    """SV-VALID-1 (000, 004): what makes a response invalid without anyone judging."""
    reasons = []
    if set(questionnaire.item_keys) - set(response.answers):
        reasons.append(InvalidReason.INCOMPLETE)
    if response.submitted_at - response.started_at < policy.min_fill_time:
        reasons.append(InvalidReason.TOO_FAST)
    scored = list(response.scored().values())
    if len(scored) > 1 and len(set(scored)) == 1:
        reasons.append(InvalidReason.STRAIGHT_LINED)
    return tuple(reasons)


def needs_review(responses: int, excluded: int, policy: SurveyPolicy) -> bool:
    """SV-VALID-1: more than 5 % excluded flags the campaign for review."""
    return responses > 0 and excluded / responses > policy.max_excluded_share
