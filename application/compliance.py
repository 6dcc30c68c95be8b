"""Escalation-timeliness compliance (SLA-4): for a period, per level and department,
the share of report-up, plan and resolution obligations met on time, with every
breach and its evidence."""

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


@dataclass(frozen=True)
class Tally:
    level: str
    department: str
    rule: str
    met_on_time: int
    breached: int
    pending: int

    @property
    def on_time_share(self) -> float | None:
        decided = self.met_on_time + self.breached
        return self.met_on_time / decided if decided else None


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


def escalation_compliance(rows: Iterable[ObligationFacts]) -> tuple[list[Tally], list[Breach]]:
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    breaches = []
    for row in rows:
        if row.rule not in ESCALATION_RULES or row.state == "void":
            continue
        level = row.level or "unknown"
        slot = counts[(level, row.department, row.rule)]
        slot[{"met": 0, "breached": 1}.get(row.state, 2)] += 1
        if row.state == "breached":
            breaches.append(Breach(
                case_id=row.case_id, key=row.key, rule=row.rule, level=level,
                department=row.department, due_at=row.due_at, met_at=row.met_at,
                breach_event=event_id(row.case_id, row.breach_version),
                met_by_event=event_id(row.case_id, row.met_by_version),
                responsible=row.responsible))
    tallies = [Tally(level, department, rule, *slot)
               for (level, department, rule), slot in sorted(counts.items())]
    return tallies, sorted(breaches, key=lambda b: (b.due_at, str(b.case_id), b.key))
