"""Named domain errors. The API maps each to an RFC 9457 problem in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation; nothing is recorded when one is raised."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError):
    """A command's input breaks a rule (SEC-IN-1); names the offending field."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class StepMissing(DomainError):
    """EX-FLOW-1: a command arrived before a step it depends on."""

    def __init__(self, command: str, missing_step: str, detail: str | None = None) -> None:
        super().__init__(detail or f"'{command}' needs '{missing_step}' first")
        self.command = command
        self.missing_step = missing_step


class NotPermitted(DomainError):
    """The actor's roles do not allow this command (EX-ROLE-1)."""


class CaseNotFound(DomainError):
    """No case of that type with that id."""


class HistoryDamaged(DomainError):
    """The stored history of a case cannot be replayed: an event is missing or does
    not decode (AUD-3). Its verify call names the first bad version."""


class StaleVersion(DomainError):
    """If-Match named a version that is no longer current (412)."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"the case is at version {actual}, not {expected}")
        self.expected = expected
        self.actual = actual


class ConcurrentUpdate(DomainError):
    """Another writer recorded the same version first (409); nothing was recorded."""

    def __init__(self, detail: str, current_version: int | None = None) -> None:
        super().__init__(detail)
        self.current_version = current_version


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came with a different request (422)."""


class WrongState(DomainError):
    """The case is past the point where this command applies (EX-FLOW-1)."""

    def __init__(self, command: str, state: str, detail: str | None = None) -> None:
        super().__init__(detail or f"'{command}' does not apply to a case that is {state}")
        self.command = command
        self.state = state


class CaseClosed(WrongState):
    """Archived and cancelled cases are read-only (EX-ARC-1)."""
