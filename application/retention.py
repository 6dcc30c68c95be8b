"""Retention and erasure of personal data (RET-1..RET-3).

A customer's data key is destroyed only when every case of that customer is past
its retention and no hold stands on any of them or on the customer: destroying
it makes the contact unreadable everywhere at once. The key goes first, then each
case records the disposition as an event, then the live keys are rewrapped under a
new key-encryption key and the old one is destroyed (RET-4), so what is left of the
destroyed key in database files or backups unwraps to nothing. A purge interrupted
between these steps finishes on the next run (the cases are still listed as due;
the rotation is due until it is done).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from application.app import CaseApplication
from application.case_index import CaseSummary, HoldSummary
from domain.cases import SYSTEM, Case, CommandContext
from domain.errors import ConcurrentUpdate, HistoryDamaged

log = logging.getLogger("casetrail.retention")


class RetentionStore(Protocol):
    def retention_due(self, before: datetime, limit: int = ...) -> list[CaseSummary]: ...

    def customer_cases(self, customer_id: str) -> list[CaseSummary]: ...

    def active_holds(self) -> list[HoldSummary]: ...


@dataclass
class PurgePlan:
    customers: list[str] = field(default_factory=list)
    cases: list[UUID] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)
    """Customer -> why their data stays."""
    kek_version: int | None = None
    """The key-encryption key the live keys were rewrapped under after the purge."""


class Shredder(Protocol):
    """Customers' data keys (infrastructure.personal_data.KeyRing)."""

    def destroy(self, customer_id: str) -> None:
        """Crypto-shredding: the customer's data key is gone for good."""

    def rotation_due(self) -> bool:
        """A key was destroyed since the key-encryption key was last rotated."""

    def rotate(self) -> int | None:
        """RET-4: rewrap the live keys under a new KEK and destroy the older ones."""


def plan_purge(store: RetentionStore, now: datetime) -> PurgePlan:
    plan = PurgePlan()
    holds = store.active_holds()
    held_cases = {h.case_id for h in holds if h.case_id}
    held_customers = {h.customer_id for h in holds if h.customer_id}
    due = store.retention_due(now)
    for customer in dict.fromkeys(c.customer_id for c in due if c.customer_id):
        cases = store.customer_cases(customer)
        held = [c for c in cases if str(c.case_id) in held_cases]
        open_or_retained = [c for c in cases if c.retain_until is None or c.retain_until > now]
        if customer in held_customers:
            plan.blocked[customer] = "a legal hold stands on the customer"
        elif held:
            plan.blocked[customer] = f"a legal hold stands on case {held[0].case_id}"
        elif open_or_retained:
            case = open_or_retained[0]
            plan.blocked[customer] = (
                f"case {case.case_id} is open" if case.retain_until is None
                else f"case {case.case_id} is retained until {case.retain_until.isoformat()}")
        else:
            plan.customers.append(customer)
            plan.cases += [c.case_id for c in cases if c.erased_at is None]
    return plan


def purge(cases: CaseApplication, store: RetentionStore, keys: Shredder, *,
          dry_run: bool = False) -> PurgePlan:
    now = cases.clock.now()
    plan = plan_purge(store, now)
    if dry_run:
        return plan
    ctx = CommandContext(actor=SYSTEM, at=now, correlation_id=f"purge-{uuid.uuid4().hex}")
    erasing = set(plan.cases)
    for customer in plan.customers:
        keys.destroy(customer)
        for summary in store.customer_cases(customer):
            if summary.case_id in erasing:
                _record_erasure(cases, summary.case_id, ctx)
    if keys.rotation_due():  # also when a run that destroyed keys stopped before this
        plan.kek_version = keys.rotate()
    return plan


def _record_erasure(cases: CaseApplication, case_id: UUID, ctx: CommandContext) -> None:
    for _ in range(5):
        try:
            cases.execute(Case, case_id, lambda case: case.record_erasure(ctx))
            return
        except ConcurrentUpdate:
            continue
        except HistoryDamaged as e:  # the key is gone; the record of it waits (AUD-3)
            log.error("erasure of case %s not recorded: %s", case_id, e.detail)
            return
