"""Legal holds (RET-2): while a hold stands on a case or a customer, nothing of
theirs is purged, whatever the retention says. Placing and releasing are events."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from eventsourcing.domain import Aggregate, event

from domain.actors import EventMeta, Role
from domain.cases import CommandContext, authorise
from domain.errors import InvalidInput, WrongState

HOLDERS = frozenset({Role.LEGAL, Role.MANAGEMENT})


class LegalHold(Aggregate):
    case_type: ClassVar[str] = "legal_hold"

    @classmethod
    def place(cls, ctx: CommandContext, *, case_id: str | None, customer_id: str | None,
              reason: str) -> LegalHold:
        authorise(ctx, "legal_hold", HOLDERS)
        if (case_id is None) == (customer_id is None):
            raise InvalidInput("case_id", "a hold is on one case or on one customer")
        if not reason.strip():
            raise InvalidInput("reason", "a hold needs a reason")
        return cls(timestamp=ctx.at, meta=ctx.meta("legal_hold"), case_id=case_id,
                   customer_id=customer_id, reason=reason)

    @event("Placed")
    def __init__(self, *, timestamp: datetime, meta: EventMeta, case_id: str | None,
                 customer_id: str | None, reason: str) -> None:
        self.case_id = case_id
        self.customer_id = customer_id
        self.reason = reason
        self.placed_by = meta.actor.user
        self.placed_at = timestamp
        self.released_at: datetime | None = None

    def release(self, ctx: CommandContext, *, reason: str) -> None:
        authorise(ctx, "legal_hold_release", HOLDERS)
        if self.released_at is not None:
            raise WrongState("legal_hold_release", "released", "the hold is already released")
        if not reason.strip():
            raise InvalidInput("reason", "releasing a hold needs a reason")
        self._released(timestamp=ctx.at, meta=ctx.meta("legal_hold_release"), reason=reason)

    @event("Released")
    def _released(self, *, timestamp: datetime, meta: EventMeta, reason: str) -> None:
        self.released_at = timestamp

    @staticmethod
    def occurred_at(event: object) -> datetime | None:
        return None
