"""The scope of the caller being served (SEC-AUTH-2). The API sets it once, where it
authenticates the caller; the application checks every case it loads against it
and filters every search by it, so no route can forget. Scheduled work runs with
no scope: it sees everything."""

from __future__ import annotations

from contextvars import ContextVar

from domain.access import Scope

current_scope: ContextVar[Scope | None] = ContextVar("casetrail_scope", default=None)
