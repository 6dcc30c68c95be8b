"""The SLA sweep (SLA-1, SLA-2, SLA-5): put breaches and warnings on the record.

The obligations view only says which cases to look at; each case is loaded and
its obligations derived afresh, and the breach or warning is saved as an event on
the case. Saving goes through the event store's optimistic concurrency and the
aggregate records a breach once per obligation, so any number of sweepers at
once (two workers, a worker and `casetrail sweep`) record each breach exactly
once: a sweeper that loses a race reloads the case and finds nothing left to do.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from application.app import CaseApplication
from domain.cases import SYSTEM, Case, CommandContext
from domain.errors import CaseNotFound, ConcurrentUpdate, HistoryDamaged

log = logging.getLogger("casetrail.sla")


class SweepSource(Protocol):
    def cases_due_for_breach(self, now: datetime, limit: int) -> list[UUID]: ...

    def cases_due_for_warning(self, now: datetime, limit: int) -> list[UUID]: ...


@dataclass(frozen=True)
class SweepReport:
    breaches: int
    warnings: int
    cases: int


def sweep(cases: CaseApplication, source: SweepSource, *, limit: int = 1000,
          attempts: int = 5) -> SweepReport:
    now = cases.clock.now()
    ctx = CommandContext(actor=SYSTEM, at=now, correlation_id=f"sweep-{uuid.uuid4().hex}")
    due = dict.fromkeys([*source.cases_due_for_breach(now, limit),
                         *source.cases_due_for_warning(now, limit)])
    breaches = warnings = 0
    for case_id in due:
        b, w = _record(cases, case_id, ctx, attempts)
        breaches, warnings = breaches + b, warnings + w
    return SweepReport(breaches=breaches, warnings=warnings, cases=len(due))


def _record(cases: CaseApplication, case_id: UUID, ctx: CommandContext,
            attempts: int) -> tuple[int, int]:
    fraction = cases.policy.sla.warning_fraction
    for _ in range(attempts):
        try:
            case = cases.get_case(Case, case_id)
        except CaseNotFound:
            return 0, 0
        except HistoryDamaged as e:  # the sweep goes on for every other case (AUD-3)
            log.error("sweep skipped case %s: %s", case_id, e.detail)
            return 0, 0
        breaches = warnings = 0
        for obligation in cases.obligations(case, ctx.at):
            breaches += case.record_breach(ctx, obligation)
            warnings += case.record_warning(ctx, obligation, fraction)
        if not (breaches or warnings):
            return 0, 0
        try:
            cases.save_case(case)
        except ConcurrentUpdate:
            continue  # another writer moved the case on: look again
        return breaches, warnings
    return 0, 0
