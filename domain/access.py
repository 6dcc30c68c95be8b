"""Object-level access (SEC-AUTH-2): every case belongs to a department; most roles
read and act on their own department's cases and on cases they take part in; a few
see every department. Out of scope is indistinguishable from missing."""

from __future__ import annotations

from dataclasses import dataclass

from domain.actors import Actor, Role
from domain.cases import Case

EVERY_DEPARTMENT = frozenset({Role.CS_HEAD, Role.GROUP_LEADER, Role.PRINCIPAL,
                              Role.MANAGEMENT, Role.AUDITOR})
"""SEC-AUTH-2: the roles that see every department (the auditor read-only, by role)."""


@dataclass(frozen=True)
class Scope:
    """The cases one actor may read and act on."""

    user: str
    departments: frozenset[str] | None
    """None: every department."""

    @classmethod
    def of(cls, actor: Actor) -> Scope:
        if actor.has_any(*EVERY_DEPARTMENT):
            return cls(actor.user, None)
        return cls(actor.user, frozenset({actor.department} if actor.department else ()))

    @property
    def everywhere(self) -> bool:
        return self.departments is None

    def sees_department(self, department: str) -> bool:
        return self.departments is None or department in self.departments

    def sees(self, case: Case) -> bool:
        """Its department, a department it involves (a corrective action's responsible
        unit), or a person it names (a handler, a team member, an owner)."""
        if self.departments is None or not case.scoped:
            return True
        departments, people = case.parties()
        return bool(self.departments & {case.department, *departments}) or self.user in people
