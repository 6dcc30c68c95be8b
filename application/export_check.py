"""Offline verification of an exported case file (AUD-4): needs only the export,
and the public key the auditor already trusts (or its fingerprint)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from application.audit import GENESIS, Checkpoint, StoredCheckpoint, link, read_checkpoint


def check_export(export: dict[str, Any], trusted_fingerprint: str | None = None,
                 witness: Sequence[StoredCheckpoint] | None = None) -> list[str]:
    """Every problem found; an empty list means the file is intact. With a witness
    the auditor kept (AUD-5), the events must also reach the case's head in the
    witness's newest checkpoint, and the export's checkpoint must be the witness's."""
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
            if not _reaches(export, head):
                problems.append(f"the events do not reach the checkpoint's head {head[0]}")
    if witness is not None:
        def signature_ok(payload: str, signature: str) -> bool:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(
                    base64.b64decode(signature), payload.encode())
            except (InvalidSignature, ValueError):
                return False
            return True

        kept = [c for c in (read_checkpoint(w, signature_ok) for w in witness)
                if isinstance(c, Checkpoint)]
        if len(kept) < len(witness):
            problems.append("the witness holds checkpoints the export's key did not sign")
        ours = checkpoint or {}
        same = [c for c in kept if c.seq == ours.get("seq")]
        if same and same[0].payload != ours.get("payload"):
            problems.append(f"the export's checkpoint {same[0].seq} differs from the witness's")
        covering = [c for c in kept if str(case_id) in c.heads]
        if covering and not _reaches(export, covering[-1].heads[str(case_id)]):
            problems.append(f"the events do not reach the head of witness checkpoint "
                            f"{covering[-1].seq} (version "
                            f"{covering[-1].heads[str(case_id)][0]})")
    return problems


def _reaches(export: dict[str, Any], head: Sequence[Any] | None) -> bool:
    """The exported events include the head's version with the head's link."""
    if not head:
        return True
    events = export["events"]
    return bool(head[0] <= len(events) and events[head[0] - 1]["entry"]["hash"] == head[1])
