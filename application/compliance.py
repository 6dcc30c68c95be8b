"""Escalation-timeliness compliance (SLA-4): for a period, per level and department,
the share of report-up, plan and resolution obligations met on time, with every
breach and its evidence. An obligation met on a backdated claim (EX-REC-2) counts
apart, as "met on claim, recorded late", with both instants: never as on time.

The view counts the obligations (one row per level, department, rule and state) and
returns as rows only the breached and recorded-late ones, the evidence: a report
costs what it reports, not every obligation of the period (B7)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

ESCALATION_RULES = ("EX-ESC-1", "EX-PLAN-2", "EX-RES-1")


class ObligationFacts(Protocol):
    case_id: UUID
    key: str
    rule: str
    level: str | None
    department: str
    responsible: str
    due_at: datetime
    met_at: datetime | None
    met_by_version: int | None
    breach_version: int | None
    state: str
    met_recorded_at: datetime | None


@dataclass(frozen=True)
class Tally:
    level: str
    department: str
    rule: str
    met_on_time: int
    breached: int
    pending: int
    met_recorded_late: int

    @property
    def on_time_share(self) -> float | None:
        """Of the decided obligations, those met on time on the evidence."""
        decided = self.met_on_time + self.breached + self.met_recorded_late
        return self.met_on_time / decided if decided else None


@dataclass(frozen=True)
class RecordedLate:
    """EX-REC-2: met on the claimed instant, recorded only later."""

    case_id: UUID
    key: str
    rule: str
    level: str
    department: str
    due_at: datetime
    claimed_at: datetime
    recorded_at: datetime
    met_by_event: str | None
    responsible: str


@dataclass(frozen=True)
class Breach:
    case_id: UUID
    key: str
    rule: str
    level: str
    department: str
    due_at: datetime
    met_at: datetime | None
    breach_event: str | None
    met_by_event: str | None
    responsible: str


def event_id(case_id: UUID, version: int | None) -> str | None:
    """An event is identified by its case and version."""
    return f"{case_id}/{version}" if version is not None else None


STATES = {"met": 0, "breached": 1, "pending": 2, "met_recorded_late": 3}
EVIDENCE_STATES = ("breached", "met_recorded_late")
"""The states whose obligations the report lists one by one."""


@dataclass(frozen=True)
class StateCount:
    """How many obligations of a level, department and rule are in a state."""

    level: str | None
    department: str
    rule: str
    state: str
    count: int


def escalation_compliance(counts: Iterable[StateCount], evidence: Iterable[ObligationFacts]
                          ) -> tuple[list[Tally], list[Breach], list[RecordedLate]]:
    """Tallies from the counts; breaches and recorded-late obligations from the
    evidence rows (those in EVIDENCE_STATES)."""
    slots: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for c in counts:
        if c.rule in ESCALATION_RULES and c.state != "void":
            slots[(c.level or "unknown", c.department, c.rule)][STATES.get(c.state, 2)] += \
                c.count
    breaches, recorded_late = [], []
    for row in evidence:
        if row.rule not in ESCALATION_RULES:
            continue
        level = row.level or "unknown"
        if row.state == "breached":
            breaches.append(Breach(
                case_id=row.case_id, key=row.key, rule=row.rule, level=level,
                department=row.department, due_at=row.due_at, met_at=row.met_at,
                breach_event=event_id(row.case_id, row.breach_version),
                met_by_event=event_id(row.case_id, row.met_by_version),
                responsible=row.responsible))
        if row.state == "met_recorded_late" and row.met_at and row.met_recorded_at:
            recorded_late.append(RecordedLate(
                case_id=row.case_id, key=row.key, rule=row.rule, level=level,
                department=row.department, due_at=row.due_at, claimed_at=row.met_at,
                recorded_at=row.met_recorded_at,
                met_by_event=event_id(row.case_id, row.met_by_version),
                responsible=row.responsible))
    tallies = [Tally(level, department, rule, *slot)
               for (level, department, rule), slot in sorted(slots.items())]
    return (tallies, sorted(breaches, key=lambda b: (b.due_at, str(b.case_id), b.key)),
            sorted(recorded_late, key=lambda r: (r.due_at, str(r.case_id), r.key)))
