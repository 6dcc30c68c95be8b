"""Who acts on a case (EX-ROLE-1, SEC-AUTH-1) and what every event records about it (AUD-1)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(Enum):
    """EX-ROLE-1. A plain Enum (not a str subclass) so it round-trips through the
    event store as a Role, never as a bare string."""

    FRONTLINE = "frontline"
    DEPARTMENT_HEAD = "department_head"
    CS_HEAD = "cs_head"
    GROUP_LEADER = "group_leader"
    PRINCIPAL = "principal"
    MANAGEMENT = "management"
    RND = "rnd"
    IMPLEMENTATION = "implementation"
    SALES = "sales"
    LEGAL = "legal"
    FINANCE = "finance"
    SUPPLY_CHAIN = "supply_chain"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Actor:
    """The authenticated caller. Taken from the credential, never from a body."""

    user: str
    roles: tuple[Role, ...]
    department: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", tuple(self.roles))

    def has_any(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)


@dataclass(frozen=True)
class EventMeta:
    """AUD-1: carried by every event besides its server timestamp."""

    actor: Actor
    correlation_id: str
    command: str
    backdated: tuple[str, ...] = ()
    """EX-REC-2: the business instants the command claimed earlier than its recording
    by more than the tolerance; the server's timestamp is the evidence."""
    backdating_reason: str | None = None
