"""Idempotency-Key records. A record is written by the recorder in the same database
transaction as the events of the command it answers, so a key is either bound to
exactly the events it produced or to nothing at all."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True)
class IdempotencyRecord:
    scope: str
    """Whose key and for which call: user, method and path template."""
    key: str
    fingerprint: str
    status_code: int
    case_id: UUID
    case_version: int
    created_at: datetime


class IdempotencyStore(Protocol):
    def find_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None: ...

    def forget_idempotency(self, before: datetime) -> int:
        """Drop the records made before `before`; returns how many. A key used again
        after that is a new request."""


def fingerprint(payload: Any) -> str:
    """A stable digest of a request: canonical JSON of what the command received."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
