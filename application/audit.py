"""Tamper evidence (AUD-3): a per-case SHA-256 hash chain over the stored bytes of
each event, and its verification.

link(n) = SHA-256( link(n-1) ‖ case id (16 bytes) ‖ version (8 bytes, big-endian)
                   ‖ topic (UTF-8) ‖ 0x00 ‖ stored state bytes )
with link(0) = 32 zero bytes. The stored state is what the store holds (after
compression and encryption), so the chain verifies without any key, and still
verifies after personal data has been crypto-shredded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

GENESIS = bytes(32)


def link_body(case_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """What a link hashes after its predecessor."""
    return b"".join((case_id.bytes, version.to_bytes(8, "big"), topic.encode(), b"\x00", state))


def link(prev: bytes, case_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    return hashlib.sha256(prev + link_body(case_id, version, topic, state)).digest()


@dataclass(frozen=True)
class StoredRecord:
    """One event as the store holds it, with its chain row."""

    seq: int
    version: int
    topic: str
    state: bytes
    hash: str | None
    prev_hash: str | None


@dataclass(frozen=True)
class Head:
    """A case's chain head as a signed checkpoint saw it."""

    version: int
    hash: str


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    first_bad_version: int | None = None
    reason: str | None = None
    checkpoint: int | None = None
    """The checkpoint the head was compared with, if any covered the case."""


def verify(case_id: UUID, records: Sequence[StoredRecord], chain_versions: Sequence[int],
           head: Head | None = None, checkpoint: int | None = None) -> Verification:
    """Recompute the chain and name the first broken link. `chain_versions` are the
    versions the chain table holds (a chain row without its event is a deleted
    event); `head` is the case's head in the latest signed checkpoint, which
    catches a truncated or rewritten tail."""
    prev = GENESIS
    expected = 1
    for record in records:
        if record.version != expected:
            return Verification(False, len(records), expected,
                                f"event {expected} is missing", checkpoint)
        computed = link(prev, case_id, record.version, record.topic, record.state)
        if record.hash is None or record.prev_hash != prev.hex():
            return Verification(False, len(records), record.version,
                                f"event {record.version} is not linked to its predecessor",
                                checkpoint)
        if computed.hex() != record.hash:
            return Verification(False, len(records), record.version,
                                f"event {record.version} does not match its hash", checkpoint)
        prev = computed
        expected += 1
    beyond = [v for v in chain_versions if v >= expected]
    if beyond:
        return Verification(False, len(records), expected,
                            f"event {expected} is missing (the chain has version {max(beyond)})",
                            checkpoint)
    if head is not None:
        if head.version >= expected:
            return Verification(False, len(records), expected,
                                f"event {expected} is missing: checkpoint {checkpoint} saw "
                                f"version {head.version}", checkpoint)
        if records[head.version - 1].hash != head.hash:
            return Verification(False, len(records), head.version,
                                f"events up to {head.version} differ from checkpoint "
                                f"{checkpoint}", checkpoint)
    return Verification(True, len(records), checkpoint=checkpoint)
