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
class StoredResponse:
    """The first answer to a command, as sent: what a request repeated with the same
    Idempotency-Key gets again, byte for byte, however much later (AUD-6)."""

    status_code: int
    headers: tuple[tuple[str, str], ...]
    body: str

    def dumps(self) -> str:
        return json.dumps({"status_code": self.status_code,
                           "headers": [list(h) for h in self.headers], "body": self.body},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> StoredResponse:
        data = json.loads(text)
        return cls(status_code=data["status_code"],
                   headers=tuple((name, value) for name, value in data["headers"]),
                   body=data["body"])


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
    response: StoredResponse | None = None
    """None for records written before responses were kept: those replay a rendering
    of the case at `case_version`, judged at the instant it was recorded."""

    def row(self) -> dict[str, Any]:
        """The record as the store's columns hold it."""
        return {"scope": self.scope, "key": self.key, "fingerprint": self.fingerprint,
                "status_code": self.status_code, "case_id": self.case_id,
                "case_version": self.case_version, "created_at": self.created_at,
                "response": self.response.dumps() if self.response else None}


class IdempotencyStore(Protocol):
    def find_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None: ...

    def forget_idempotency(self, before: datetime) -> int:
        """Drop the records made before `before`; returns how many. A key used again
        after that is a new request."""


def fingerprint(payload: Any) -> str:
    """A stable digest of a request: canonical JSON of what the command received."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
