"""Tamper evidence (AUD-3, AUD-5): a per-case SHA-256 hash chain over the stored
bytes of each event, its verification, and the checkpoint log that signs every
case's head.

link(n) = SHA-256( link(n-1) ‖ case id (16 bytes) ‖ version (8 bytes, big-endian)
                   ‖ topic (UTF-8) ‖ 0x00 ‖ stored state bytes )
with link(0) = 32 zero bytes. The stored state is what the store holds (after
compression and encryption), so the chain verifies without any key, and still
verifies after personal data has been crypto-shredded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
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
    bad_checkpoint: int | None = None
    """The first checkpoint found damaged, if the log is."""


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


# --- the checkpoint log (AUD-5) ---------------------------------------------------------

CHECKPOINT_GENESIS = "0" * 64
"""The `prev` of the first checkpoint."""
LEGACY = ""
"""The `prev` of a checkpoint signed before AUD-5: heads and a signature, no `seq`,
`prev` or `digest`. It stands on its signature alone; the first checkpoint after it
links to it."""


def heads_digest(heads: Mapping[str, Sequence[Any]]) -> str:
    """SHA-256 over every case head, one line each in case order: `id version link`."""
    digest = hashlib.sha256()
    for case_id in sorted(heads):
        version, link_hex = heads[case_id]
        digest.update(f"{case_id} {version} {link_hex}\n".encode())
    return digest.hexdigest()


def checkpoint_hash(payload: str) -> str:
    """What the next checkpoint names as its `prev`: SHA-256 of the signed payload."""
    return hashlib.sha256(payload.encode()).hexdigest()


def checkpoint_payload(seq: int, prev: str, created_at: str, heads: Mapping[str, Sequence[Any]],
                       key_fingerprint: str) -> str:
    """The canonical text that is signed, hashed and published."""
    return json.dumps({"seq": seq, "prev": prev, "created_at": created_at,
                       "digest": heads_digest(heads), "heads": heads,
                       "key_fingerprint": key_fingerprint},
                      sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Damage:
    """One finding of a verification: what is wrong, and where."""

    reason: str
    case_id: UUID | None = None
    version: int | None = None
    """The first bad version of the case, where there is one."""
    checkpoint: int | None = None
    """The checkpoint concerned, where there is one."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signature, sequence number and digest were checked."""

    seq: int
    prev: str
    created_at: str
    heads: Mapping[str, Sequence[Any]]
    payload: str
    signature: str

    @property
    def hash(self) -> str:
        return checkpoint_hash(self.payload)

    def head(self, case_id: UUID) -> Head | None:
        found = self.heads.get(str(case_id))
        return Head(version=found[0], hash=found[1]) if found else None


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint row as the store (or a witness) holds it: nothing checked yet."""

    seq: int
    payload: str
    signature: str


def read_checkpoint(row: StoredCheckpoint,
                    signature_ok: Callable[[str, str], bool]) -> Checkpoint | Damage:
    """The checkpoint, or the damage that makes it worthless."""
    if not signature_ok(row.payload, row.signature):
        return Damage(f"checkpoint {row.seq} does not verify with the signing key",
                      checkpoint=row.seq)
    try:
        body = json.loads(row.payload)
        if "seq" not in body and "prev" not in body:
            return Checkpoint(seq=row.seq, prev=LEGACY, created_at=body["created_at"],
                              heads=body["heads"], payload=row.payload,
                              signature=row.signature)
        checkpoint = Checkpoint(seq=body["seq"], prev=body["prev"],
                                created_at=body["created_at"], heads=body["heads"],
                                payload=row.payload, signature=row.signature)
        digest = body["digest"]
    except (ValueError, KeyError, TypeError):
        return Damage(f"checkpoint {row.seq} is signed but not a checkpoint this service "
                      "writes", checkpoint=row.seq)
    if checkpoint.seq != row.seq:
        return Damage(f"checkpoint {row.seq} is stored under the wrong number (it was signed "
                      f"as {checkpoint.seq})", checkpoint=row.seq)
    if heads_digest(checkpoint.heads) != digest:
        return Damage(f"checkpoint {row.seq}'s heads do not match its digest",
                      checkpoint=row.seq)
    return checkpoint


def follows(checkpoint: Checkpoint, previous: Checkpoint | None) -> Damage | None:
    """The damage if `checkpoint` does not directly follow `previous` in the log."""
    if checkpoint.prev == LEGACY:
        return None  # signed before the log was chained: its signature is all it has
    expected_seq = previous.seq + 1 if previous else 1
    expected_prev = previous.hash if previous else CHECKPOINT_GENESIS
    if checkpoint.seq != expected_seq:
        return Damage(f"checkpoint {expected_seq} is missing (the log goes on at "
                      f"{checkpoint.seq})", checkpoint=expected_seq)
    if checkpoint.prev != expected_prev:
        return Damage(f"checkpoint {checkpoint.seq} does not follow checkpoint "
                      f"{expected_seq - 1}: its predecessor was changed or replaced",
                      checkpoint=checkpoint.seq)
    return None


@dataclass
class LogCheck:
    """The checkpoint log read in order: the checkpoints that stand, and the damage."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)

    @property
    def latest(self) -> Checkpoint | None:
        """The newest checkpoint whose signature and digest hold."""
        return self.checkpoints[-1] if self.checkpoints else None


def check_log(rows: Iterable[StoredCheckpoint],
              signature_ok: Callable[[str, str], bool]) -> LogCheck:
    """Every checkpoint signed, numbered 1, 2, ... and each naming its predecessor's
    hash: an edited, deleted or inserted checkpoint breaks one of these."""
    result = LogCheck()
    previous: Checkpoint | None = None
    for row in rows:
        read = read_checkpoint(row, signature_ok)
        if isinstance(read, Damage):
            result.damage.append(read)
            continue
        if (broken := follows(read, previous)) is not None:
            result.damage.append(broken)
        result.checkpoints.append(read)
        previous = read
    return result


def check_witness(store: Sequence[StoredCheckpoint],
                  witness: Iterable[StoredCheckpoint]) -> list[Damage]:
    """Every checkpoint the witness holds must be in the store, byte for byte. The
    witness may lack some (a leader without the file) but never hold one the store
    lost or changed."""
    stored = {row.seq: row for row in store}
    damage = []
    for kept in witness:
        found = stored.get(kept.seq)
        if found is None:
            damage.append(Damage(f"checkpoint {kept.seq} is in the witness but not in the "
                                 "store", checkpoint=kept.seq))
        elif (found.payload, found.signature) != (kept.payload, kept.signature):
            damage.append(Damage(f"checkpoint {kept.seq} differs from the witness's copy",
                                 checkpoint=kept.seq))
    return damage


def advance(previous: Checkpoint | None, heads: Mapping[UUID, tuple[int, str]],
            verify_case: Callable[[UUID, Head | None], Verification]) -> list[Damage]:
    """Before a new checkpoint is signed: every head the previous one saw is still
    there, and every changed or new case verifies along its whole chain and still
    reaches the previous head, so no head went back or was rewritten (AUD-5).
    `heads` are the store's chain heads now."""
    seq = previous.seq if previous else None
    seen = {UUID(case_id): Head(version=h[0], hash=h[1])
            for case_id, h in (previous.heads.items() if previous else ())}
    damage = [Damage(f"the case is gone: checkpoint {seq} saw version {head.version}",
                     case_id=case_id, version=1, checkpoint=seq)
              for case_id, head in seen.items() if case_id not in heads]
    for case_id, (version, link_hex) in heads.items():
        before = seen.get(case_id)
        if before == Head(version=version, hash=link_hex):
            continue
        result = verify_case(case_id, before)
        if not result.ok:
            damage.append(Damage(result.reason or "broken", case_id=case_id,
                                 version=result.first_bad_version, checkpoint=seq))
    return damage


def gone(case_id: UUID, head: Head, checkpoint: int | None) -> Verification:
    """A case a checkpoint saw, of which the store holds nothing any more."""
    return Verification(False, 0, 1, f"the case is gone: checkpoint {checkpoint} saw version "
                        f"{head.version}", checkpoint)


@dataclass(frozen=True)
class StoreVerification:
    """Every case and the whole checkpoint log (and the witness, if one was given)."""

    cases: int
    checkpoint: int | None
    damage: list[Damage]

    @property
    def ok(self) -> bool:
        return not self.damage
