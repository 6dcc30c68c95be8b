"""Offline verification of an exported case file (AUD-4): needs only the export,
and the public key the auditor already trusts (or its fingerprint)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from uuid import UUID

from application.audit import GENESIS, link


def check_export(export: dict[str, Any], trusted_fingerprint: str | None = None) -> list[str]:
    """Every problem found; an empty list means the file is intact."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    problems = []
    case_id = UUID(export["case_id"])
    prev = GENESIS
    for expected, event in enumerate(export["events"], start=1):
        entry = event["entry"]
        if entry["version"] != expected:
            problems.append(f"event {expected} is missing")
            break
        digest = link(prev, case_id, expected, event["topic"], base64.b64decode(event["state"]))
        if entry["prev_hash"] != prev.hex() or entry["hash"] != digest.hex():
            problems.append(f"event {expected} does not match its hash")
            break
        prev = digest
    public = bytes.fromhex(export["public_key"])
    fingerprint = hashlib.sha256(public).hexdigest()
    if trusted_fingerprint and fingerprint != trusted_fingerprint:
        problems.append("the export's key is not the trusted key")
    checkpoint = export.get("checkpoint")
    if checkpoint:
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(
                base64.b64decode(checkpoint["signature"]), checkpoint["payload"].encode())
        except (InvalidSignature, ValueError):
            problems.append("the checkpoint's signature does not verify")
        else:
            head = json.loads(checkpoint["payload"])["heads"].get(str(case_id))
            if head and (head[0] > len(export["events"])
                         or export["events"][head[0] - 1]["entry"]["hash"] != head[1]):
                problems.append(f"the events do not reach the checkpoint's head {head[0]}")
    return problems
