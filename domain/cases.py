"""What every case type shares: the command context and the base aggregate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate, event

from domain.actors import Actor, EventMeta, Role
from domain.calendar import utc
from domain.errors import InvalidInput, NotPermitted
from domain.obligations import Obligation, ObligationState
from domain.policy import ExceptionPolicy

SYSTEM = Actor(user="casetrail", roles=())
"""The actor of what the service itself records: breaches and warnings (SLA-1, SLA-2)."""


@dataclass(frozen=True)
class CommandContext:
    """Who asks, when (from the injected clock, CAL-6), under which correlation id;
    and why, if the command claims business instants well before it is recorded."""

    actor: Actor
    at: datetime
    correlation_id: str
    backdating_reason: str | None = None
    backdating_tolerance: timedelta = ExceptionPolicy.backdating_tolerance  # the default

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", utc(self.at, "at"))

    def meta(self, command: str, claims: Mapping[str, datetime | None] | None = None
             ) -> EventMeta:
        """The event's AUD-1 record. `claims` are the business instants the command
        was given (EX-REC-2): one earlier than now by more than the tolerance needs a
        `backdating_reason`, and marks the event as backdated."""
        early = {name: self.at - value for name, value in (claims or {}).items()
                 if value is not None and self.at - value > self.backdating_tolerance}
        reason = (self.backdating_reason or "").strip() or None
        if early and reason is None:
            claimed = ", ".join(f"{name} is {int(by.total_seconds() // 60)} minutes"
                                for name, by in early.items())
            raise InvalidInput("backdating_reason", f"{claimed} before this is recorded, more "
                               f"than the {int(self.backdating_tolerance.total_seconds() // 60)}"
                               "-minute tolerance: give a backdating_reason (EX-REC-2)")
        return EventMeta(actor=self.actor, correlation_id=self.correlation_id, command=command,
                         backdated=tuple(early), backdating_reason=reason if early else None)


def authorise(ctx: CommandContext, command: str, allowed: frozenset[Role]) -> None:
    """EX-ROLE-1 / SEC-AUTH-1: the actor needs one of the allowed roles."""
    if not ctx.actor.has_any(*allowed):
        names = ", ".join(sorted(role.value for role in allowed))
        raise NotPermitted(f"'{command}' needs one of the roles: {names}")


EARLIEST_BUSINESS_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""No case of this service happened before this: an earlier instant is a typo."""


LATEST_BUSINESS_DATE = date(2199, 12, 31)


def required_text(field: str, value: str) -> str:
    """Free text the caller must give: not empty and not only whitespace."""
    if not value or not value.strip():
        raise InvalidInput(field, f"{field} must not be blank")
    return value


def plausible_date(field: str, value: date, earliest: date | None = None) -> date:
    """A calendar date given by the caller, within what this service can mean."""
    earliest = earliest or EARLIEST_BUSINESS_TIME.date()
    if not earliest <= value <= LATEST_BUSINESS_DATE:
        raise InvalidInput(field, f"{field} {value.isoformat()} is outside "
                                  f"{earliest.isoformat()} to {LATEST_BUSINESS_DATE.isoformat()}")
    return value


def business_instant(ctx: CommandContext, field: str, value: datetime) -> datetime:
    """A business time given by the caller: aware, not in the future (EX-REC-1), and
    not absurdly far in the past."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, f"{field} must carry a timezone offset")
    if value > ctx.at:
        raise InvalidInput(field, f"{field} {value.isoformat()} is in the future")
    if value < EARLIEST_BUSINESS_TIME:
        raise InvalidInput(field, f"{field} {value.isoformat()} is before "
                                  f"{EARLIEST_BUSINESS_TIME.date().isoformat()}")
    return value.astimezone(UTC)


class Case(Aggregate):
    """Base of the three case types. Every event method takes `timestamp` (server
    time from the clock) and `meta` (actor, correlation id, command) so that each
    recorded event answers AUD-1 on its own."""

    case_type: ClassVar[str] = "case"
    scoped: ClassVar[bool] = True
    """SEC-AUTH-2 applies: readers outside its department see it only as a party."""
    personal_text: ClassVar[frozenset[str]] = frozenset()
    """Its events' free-text attributes that may name a person: sealed under the
    customer's key where the case has a customer (domain.personal)."""
    department: str  # set by each case type's creation event

    def parties(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """SEC-AUTH-2: the other departments and the people the case involves."""
        return (), ()

    @staticmethod
    def occurred_at(event: Any) -> datetime | None:
        """The business time an event reports, where its command gave one (AUD-1)."""
        return None

    def _start_case_record(self) -> None:
        """Called by each case type's creation event."""
        self.breaches: dict[str, int] = {}
        self.warnings: dict[str, int] = {}
        self.closed_at: datetime | None = None
        """Archived or cancelled: retention runs from here (EX-ARC-1, RET-1)."""
        self.erased_at: datetime | None = None
        self.corrective_actions: list[str] = []
        """CA-SRC-1: the corrective actions this case opened, shown from this side."""

    def link_actions(self, ctx: CommandContext, action_ids: tuple[str, ...]) -> None:
        """CA-SRC-1: record the corrective actions opened from this case (saved in the
        same transaction as the actions themselves)."""
        if action_ids:
            self._actions_opened(timestamp=ctx.at, meta=ctx.meta("corrective_actions"),
                                 action_ids=tuple(action_ids))

    @event("CorrectiveActionsOpened")
    def _actions_opened(self, *, timestamp: datetime, meta: EventMeta,
                        action_ids: tuple[str, ...]) -> None:
        self.corrective_actions.extend(action_ids)

    @property
    def customer_id(self) -> str | None:
        """Whose personal data the case holds, if anyone's."""
        return None

    @property
    def retention_start(self) -> datetime | None:
        """Where its retention period runs from (RET-1): archiving or cancelling."""
        return self.closed_at

    def record_erasure(self, ctx: CommandContext) -> None:
        """RET-3: the disposition of the case's personal data, on the record. The data
        itself is made unreadable by destroying the customer's key."""
        if self.erased_at is not None:
            return
        self._personal_data_erased(timestamp=ctx.at, meta=ctx.meta("purge"),
                                   customer_id=self.customer_id)

    @event("PersonalDataErased")
    def _personal_data_erased(self, *, timestamp: datetime, meta: EventMeta,
                              customer_id: str | None) -> None:
        self.erased_at = timestamp

    def record_breach(self, ctx: CommandContext, obligation: Obligation) -> bool:
        """SLA-1: put a breach on the case's record, once per obligation. Also for an
        obligation met late (breached, then met). False when there is nothing to do."""
        if obligation.key in self.breaches:
            return False
        if obligation.state_at(ctx.at) is not ObligationState.BREACHED:
            return False
        if self.closed_at is not None and obligation.due_at > self.closed_at:
            return False  # it was still pending when the case closed: nothing owed now
        self._obligation_breached(
            timestamp=ctx.at, meta=ctx.meta("sweep"), key=obligation.key, rule=obligation.rule,
            description=obligation.description, due_at=obligation.due_at,
            met_at=obligation.met_at, responsible=obligation.responsible)
        return True

    @event("ObligationBreached")
    def _obligation_breached(self, *, timestamp: datetime, meta: EventMeta, key: str,
                             rule: str, description: str, due_at: datetime,
                             met_at: datetime | None, responsible: str) -> None:
        self.breaches[key] = self.version + 1

    def record_warning(self, ctx: CommandContext, obligation: Obligation,
                       fraction: float) -> bool:
        """SLA-2: warn once when `fraction` of the allowed time has passed unmet."""
        if obligation.key in self.warnings or obligation.key in self.breaches:
            return False
        if obligation.state_at(ctx.at) is not ObligationState.PENDING:
            return False
        if ctx.at < obligation.warn_at(fraction):
            return False
        self._obligation_warned(
            timestamp=ctx.at, meta=ctx.meta("sweep"), key=obligation.key, rule=obligation.rule,
            description=obligation.description, due_at=obligation.due_at,
            responsible=obligation.responsible)
        return True

    @event("ObligationWarned")
    def _obligation_warned(self, *, timestamp: datetime, meta: EventMeta, key: str, rule: str,
                           description: str, due_at: datetime, responsible: str) -> None:
        self.warnings[key] = self.version + 1
