"""Obligations (SLA-1): what a case owes, by when, derived from its events and the
policy in force. Each case type computes its own; the obligations projection and
the sweep track them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class ObligationState(Enum):
    PENDING = "pending"
    MET = "met"
    MET_RECORDED_LATE = "met_recorded_late"
    """EX-REC-2: met on the claimed instant, but that claim was recorded later than the
    backdating tolerance allows: not evidence of being on time."""
    BREACHED = "breached"
    VOID = "void"


@dataclass(frozen=True)
class Obligation:
    """`key` is stable across recomputation, so a view can upsert by (case, key).

    `started_at` is when the clock started (for SLA-2 warnings); `met_at` is the
    business time of the meeting event and `met_by_version` its version; `void_by_version`
    the event that made the obligation moot (reclassification, cancellation)."""

    key: str
    rule: str
    description: str
    started_at: datetime
    due_at: datetime
    met_at: datetime | None = None
    met_by_version: int | None = None
    void_by_version: int | None = None
    level: str | None = None
    """The level (or severity) the obligation was derived under."""
    responsible: str = ""
    """Who should act (SLA-4 evidence)."""
    met_recorded_at: datetime | None = None
    """When the meeting event was recorded, if its claimed `met_at` was backdated
    (EX-REC-2): both instants are shown, and it never counts as on time."""

    def warn_at(self, fraction: float) -> datetime:
        """SLA-2: the instant `fraction` of the allowed time has passed."""
        return self.started_at + (self.due_at - self.started_at) * fraction

    def state_at(self, now: datetime) -> ObligationState:
        """Met late counts as breached: the breach stays on the record (SLA-1)."""
        if self.void_by_version is not None:
            return ObligationState.VOID
        if self.met_at is not None:
            if self.met_at > self.due_at:
                return ObligationState.BREACHED
            return ObligationState.MET if self.met_recorded_at is None \
                else ObligationState.MET_RECORDED_LATE
        return ObligationState.BREACHED if now > self.due_at else ObligationState.PENDING
