"""The signed checkpoint log (AUD-5): kept in its own table, each checkpoint signed
with Ed25519 and naming its sequence number, its predecessor's hash and a digest
over every case's head; published to a witness outside the database.

The signer checks before it signs: the log as stored must still end where the
witness says it ended, and every case head must have moved only forward from the
previous checkpoint along a valid chain. Otherwise it logs an alert, counts the
refusal (`casetrail_checkpoint_refusals_total`) and records nothing: signing over
damage would launder it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from prometheus_client import Counter

from application.audit import (
    CHECKPOINT_GENESIS,
    LEGACY,
    Checkpoint,
    Damage,
    Head,
    StoredCheckpoint,
    StoredRecord,
    StoreVerification,
    Verification,
    advance,
    check_log,
    check_witness,
    checkpoint_payload,
    follows,
    gone,
    read_checkpoint,
    verify,
)
from domain.errors import CaseNotFound
from infrastructure.key_files import key_material

if TYPE_CHECKING:
    from application.app import CaseApplication
from infrastructure.settings import Settings

log = logging.getLogger("casetrail.checkpoints")

REFUSALS = Counter("casetrail_checkpoint_refusals", "Checkpoints the signer refused to sign "
                   "because the store was damaged (AUD-5)")
PUBLISH_FAILURES = Counter("casetrail_checkpoint_publish_failures",
                           "Checkpoints that could not be published to the witness webhook")


class CheckpointRefused(Exception):
    """The store is damaged: nothing was signed."""

    def __init__(self, damage: Sequence[Damage]) -> None:
        self.damage = list(damage)
        super().__init__("; ".join(describe(d) for d in damage))


def describe(damage: Damage) -> str:
    where = []
    if damage.case_id is not None:
        where.append(f"case {damage.case_id}")
    if damage.version is not None:
        where.append(f"version {damage.version}")
    return f"{', '.join(where)}: {damage.reason}" if where else damage.reason


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()
        self.public_bytes = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.fingerprint = hashlib.sha256(self.public_bytes).hexdigest()

    def sign(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode())).decode()

    def verify(self, payload: str, signature: str) -> bool:
        return signature_verifies(self.public_key, payload, signature)


def signature_verifies(key: Ed25519PublicKey, payload: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), payload.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def load_signer(settings: Settings) -> Signer:
    seed = key_material(settings.signing_key, settings.signing_key_file,
                        lambda: secrets.token_hex(32))
    return Signer(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed)))


class Witness:
    """Where each checkpoint is published outside the database: an append-only file
    of JSON lines (one signed checkpoint each), and optionally a webhook."""

    def __init__(self, path: Path | None, url: str | None = None,
                 timeout: float = 5.0) -> None:
        self.path = path
        self.url = url
        self.timeout = timeout

    def publish(self, checkpoint: StoredCheckpoint) -> None:
        line = witness_line(checkpoint)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
        if self.url:
            try:
                httpx.post(self.url, content=line, timeout=self.timeout,
                           headers={"Content-Type": "application/json"}).raise_for_status()
            except httpx.HTTPError as e:
                PUBLISH_FAILURES.inc()
                log.error("checkpoint %d was not published to %s: %s", checkpoint.seq,
                          self.url, e)

    def last(self) -> StoredCheckpoint | None:
        """The newest checkpoint published, read from the file's end (the file grows
        by a checkpoint an hour and is never read whole for this)."""
        if self.path is None or not self.path.exists():
            return None
        with self.path.open("rb") as f:
            end = f.seek(0, os.SEEK_END)
            tail, start = b"", end
            while start > 0 and tail.rstrip(b"\n").count(b"\n") == 0:
                start = max(0, start - 65536)
                f.seek(start)
                tail = f.read(end - start)
        line = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        return parse_witness_line(line.decode("utf-8"), self.path, "the last line") \
            if line.strip() else None


def witness_line(checkpoint: StoredCheckpoint) -> str:
    return json.dumps({"seq": checkpoint.seq, "payload": checkpoint.payload,
                       "signature": checkpoint.signature}, separators=(",", ":"))


class WitnessUnreadable(Exception):
    """A witness file that is not what `Witness.publish` writes."""


def read_witness(path: Path) -> Iterator[StoredCheckpoint]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise WitnessUnreadable(f"cannot read the witness {path}: {e.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield parse_witness_line(line, path, f"line {number}")


def parse_witness_line(line: str, path: Path, where: str) -> StoredCheckpoint:
    try:
        body = json.loads(line)
        return StoredCheckpoint(seq=int(body["seq"]), payload=str(body["payload"]),
                                signature=str(body["signature"]))
    except (ValueError, KeyError, TypeError):
        raise WitnessUnreadable(f"{path}, {where}: not a checkpoint") from None


def _stored(rows: Iterable[Mapping[str, Any]]) -> list[StoredCheckpoint]:
    return [StoredCheckpoint(r["seq"], r["payload"], r["signature"]) for r in rows]


def load_witness(settings: Settings) -> Witness:
    return Witness(settings.witness_file, settings.witness_url,
                   settings.webhook_timeout.total_seconds())


class Checkpoints:
    """The log in the store, the signer and the witness."""

    def __init__(self, recorder: Any, signer: Signer, witness: Witness | None = None) -> None:
        self.recorder = recorder
        self.signer = signer
        self.witness = witness or Witness(None)

    def rows(self, after: int = 0) -> list[StoredCheckpoint]:
        return _stored(self.recorder.checkpoint_rows(after))

    def latest(self) -> Checkpoint | Damage | None:
        """The newest checkpoint, checked on its own and against its predecessor: what
        a single case is compared with. None before the first one."""
        checked: list[Checkpoint] = []
        for row in _stored(self.recorder.latest_checkpoints(2)):
            read = read_checkpoint(row, self.signer.verify)
            if isinstance(read, Damage):
                return read
            checked.append(read)
        if not checked:
            return None
        newest, before = checked[0], next(iter(checked[1:]), None)
        if before is None and newest.seq != 1 and newest.prev != LEGACY:
            return Damage(f"checkpoints 1 to {newest.seq - 1} are missing", checkpoint=1)
        if before is not None and (broken := follows(newest, before)) is not None:
            return broken
        return newest

    def create(self, now: datetime,
               verify_case: Callable[[UUID, Head | None, int | None], Verification]) -> int:
        """Check, then sign and publish a checkpoint of every head; its number."""
        latest = self.latest()
        damage: list[Damage] = [latest] if isinstance(latest, Damage) else []
        previous = latest if isinstance(latest, Checkpoint) else None
        published = self.witness.last()
        if published is not None:
            damage += check_witness(self.rows(published.seq - 1), [published])
        heads = {case_id: (version, digest)
                 for case_id, version, digest in self.recorder.chain_heads()}
        if not damage:
            damage = advance(previous, heads, lambda case_id, head: verify_case(
                case_id, head, previous.seq if previous else None))
        if damage:
            REFUSALS.inc()
            for d in damage:
                log.error("checkpoint refused: %s", describe(d))
            raise CheckpointRefused(damage)
        seq = previous.seq + 1 if previous else 1
        payload = checkpoint_payload(
            seq, previous.hash if previous else CHECKPOINT_GENESIS, now.isoformat(),
            {str(case_id): list(head) for case_id, head in heads.items()},
            self.signer.fingerprint)
        signature = self.signer.sign(payload)
        self.recorder.insert_checkpoint(seq, payload, signature, self.signer.fingerprint)
        self.witness.publish(StoredCheckpoint(seq, payload, signature))
        return seq

    def verify_case(self, cases: CaseApplication, case_id: UUID) -> Verification:
        """AUD-3/AUD-5 for one case: its chain, against the newest checkpoint's head;
        a damaged newest checkpoint is reported too. CaseNotFound when neither the
        store nor the checkpoint knows the case."""
        latest = self.latest()
        return self.verify_stored(case_id, *cases.stored_records(case_id), latest)

    def verify_stored(self, case_id: UUID, records: Sequence[StoredRecord],
                      chain: Sequence[int], latest: Checkpoint | Damage | None) -> Verification:
        """`verify_case` on a case's stored events and chain versions, read *after*
        `latest` (the newest checkpoint): a checkpoint signed after the records were
        read may hold a head they do not reach yet, damage that is not there."""
        checkpoint = latest if isinstance(latest, Checkpoint) else None
        seq = checkpoint.seq if checkpoint else None
        head = checkpoint.head(case_id) if checkpoint else None
        if not records and not chain:
            if head is None:
                raise CaseNotFound(f"no case {case_id}")
            return gone(case_id, head, seq)
        result = verify(case_id, records, chain, head, seq)
        if isinstance(latest, Damage):  # both findings: the case's and the log's
            return replace(result, ok=False, reason=result.reason or latest.reason,
                           bad_checkpoint=latest.checkpoint)
        return result

    def verify_all(self, cases: CaseApplication,
                   witness: Sequence[StoredCheckpoint] | None = None,
                   progress: Callable[[int], None] | None = None) -> StoreVerification:
        """Every case, the whole log, and the witness an auditor kept, if given: each
        finding names the case and its first bad version, or the checkpoint. The
        events are read in one ordered scan (not a query a case); `progress` is told
        how many events each case had."""
        rows = self.rows()
        log_check = check_log(rows, self.signer.verify)
        damage = list(log_check.damage)
        heads = [log_check.latest] if log_check.latest else []
        if witness:
            damage += check_witness(rows, witness)
            kept = [c for c in (read_checkpoint(w, self.signer.verify) for w in witness)
                    if isinstance(c, Checkpoint)]
            heads += kept[-1:]
        known = {UUID(case_id) for checkpoint in heads for case_id in checkpoint.heads}
        found: list[Damage] = []
        against: list[Checkpoint | None] = [*heads] or [None]

        def check(case_id: UUID, records: Sequence[StoredRecord], chain: Sequence[int]) -> None:
            for checkpoint in against:
                head = checkpoint.head(case_id) if checkpoint else None
                seq = checkpoint.seq if checkpoint else None
                result = (gone(case_id, head, seq) if head and not records and not chain
                          else verify(case_id, records, chain, head, seq))
                if not result.ok:
                    found.append(Damage(result.reason or "broken", case_id=case_id,
                                        version=result.first_bad_version, checkpoint=seq))
                    return

        stored = set()
        for case_id, records, chain in self.recorder.all_case_records():
            stored.add(case_id)
            check(case_id, records, chain)
            if progress is not None:
                progress(len(records))
        for case_id in known - stored:  # in a checkpoint, no longer in the store
            check(case_id, [], [])
        damage += sorted(found, key=lambda d: str(d.case_id))
        return StoreVerification(len(stored | known), log_check.latest.seq if log_check.latest
                                 else None, damage)
