"""Summary filings (EX-SIGN-1, RPT-1): the weekly summary of a department's general
exceptions goes from its department head to customer service for filing (002 art.
9); the monthly summary of major exceptions from cs_head to the handling group (art.
10). A filing keeps who submitted it, when, and the figures as submitted with their
digest, so a later change to the figures shows against what was filed. Filing again
after such a change needs a reason; filing the same figures twice is refused.

A filing's id derives from its kind, period and department: one filing per summary.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import ClassVar

from eventsourcing.domain import Aggregate, event

from domain.actors import EventMeta, Role
from domain.cases import CommandContext, authorise, required_text
from domain.errors import InvalidInput, NotPermitted, WrongState

_NAMESPACE = uuid.UUID("8d0f3c1a-7e52-4b69-a3d4-2f1e6c9b7a05")


class SummaryKind(Enum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


# EX-SIGN-1: who submits each summary, and whom it is filed with.
FILERS: dict[SummaryKind, Role] = {SummaryKind.WEEKLY: Role.DEPARTMENT_HEAD,
                                   SummaryKind.MONTHLY: Role.CS_HEAD}
FILED_WITH: dict[SummaryKind, str] = {
    SummaryKind.WEEKLY: "客户服务部门备案 filed with the customer service department",
    SummaryKind.MONTHLY: "向处置小组汇报 filed with the handling group",
}


def filing_id(kind: SummaryKind, period: str, department: str | None) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{kind.value}|{period}|{department or ''}")


@dataclass(frozen=True)
class Submission:
    submitted_by: str
    submitted_at: datetime
    sha256: str
    figures: str
    """The summary as submitted (JSON): counts and case ids, no personal data."""
    reason: str | None = None
    """Why it was filed again, for every submission after the first."""


class SummaryFiling(Aggregate):
    case_type: ClassVar[str] = "filing"

    @classmethod
    def submit(cls, ctx: CommandContext, *, kind: SummaryKind, period: str,
               department: str | None, period_end: datetime, figures: str) -> SummaryFiling:
        _check(ctx, kind, department, period_end)
        return cls(timestamp=ctx.at, meta=ctx.meta("filing"), kind=kind, period=period,
                   department=department, submission=_submission(ctx, figures, None))

    @staticmethod
    def create_id(kind: SummaryKind, period: str, department: str | None,
                  **_: object) -> uuid.UUID:
        return filing_id(kind, period, department)

    @event("Submitted")
    def __init__(self, *, timestamp: datetime, meta: EventMeta, kind: SummaryKind,
                 period: str, department: str | None, submission: Submission) -> None:
        self.kind = kind
        self.period = period
        self.department = department
        self.submissions = [submission]

    def resubmit(self, ctx: CommandContext, *, period_end: datetime, figures: str,
                 reason: str | None) -> None:
        _check(ctx, self.kind, self.department, period_end)
        last = self.submissions[-1]
        submission = _submission(ctx, figures, reason)
        if submission.sha256 == last.sha256:
            raise WrongState("filing", "filed", f"already filed with these figures by "
                             f"{last.submitted_by} at {last.submitted_at.isoformat()}")
        required_text("reason", reason or "")
        self._resubmitted(timestamp=ctx.at, meta=ctx.meta("filing"), submission=submission)

    @event("Resubmitted")
    def _resubmitted(self, *, timestamp: datetime, meta: EventMeta,
                     submission: Submission) -> None:
        self.submissions.append(submission)

    @staticmethod
    def occurred_at(event: object) -> datetime | None:
        return None


def _check(ctx: CommandContext, kind: SummaryKind, department: str | None,
           period_end: datetime) -> None:
    authorise(ctx, f"{kind.value}_filing", frozenset({FILERS[kind]}))
    if kind is SummaryKind.WEEKLY and ctx.actor.department not in (None, department):
        raise NotPermitted("a department head files their own department's weekly summary")
    if ctx.at < period_end:
        raise InvalidInput("week" if kind is SummaryKind.WEEKLY else "month",
                           f"the period ends at {period_end.isoformat()}; its summary is "
                           "filed once it is over")


def _submission(ctx: CommandContext, figures: str, reason: str | None) -> Submission:
    return Submission(ctx.actor.user, ctx.at, hashlib.sha256(figures.encode()).hexdigest(),
                      figures, reason)
