"""Signed checkpoints of every chain head (AUD-3): kept in their own table, signed
with Ed25519, carrying the public key's fingerprint. A truncated or rewritten
tail of a case's history keeps a consistent chain, but no longer matches the head
a checkpoint signed."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from application.audit import Head
from infrastructure.key_files import key_material
from infrastructure.settings import Settings


class CheckpointInvalid(Exception):
    """The latest checkpoint's signature does not verify: the checkpoint table was
    tampered with, or the signing key changed."""


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()
        self.public_bytes = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.fingerprint = hashlib.sha256(self.public_bytes).hexdigest()

    def sign(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode())).decode()

    def verify(self, payload: str, signature: str) -> bool:
        try:
            self.public_key.verify(base64.b64decode(signature), payload.encode())
        except (InvalidSignature, ValueError):
            return False
        return True


def load_signer(settings: Settings) -> Signer:
    seed = key_material(settings.signing_key, settings.signing_key_file,
                        lambda: secrets.token_hex(32))
    return Signer(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed)))


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    created_at: str
    heads: dict[str, list[Any]]
    key_fingerprint: str
    payload: str
    signature: str

    def head(self, case_id: UUID) -> Head | None:
        found = self.heads.get(str(case_id))
        return Head(version=found[0], hash=found[1]) if found else None


class Checkpoints:
    def __init__(self, recorder: Any, signer: Signer) -> None:
        self.recorder = recorder
        self.signer = signer

    def create(self, now: datetime) -> int:
        heads = {str(case_id): [version, digest]
                 for case_id, version, digest in self.recorder.chain_heads()}
        payload = json.dumps({"created_at": now.isoformat(), "heads": heads,
                              "key_fingerprint": self.signer.fingerprint},
                             sort_keys=True, separators=(",", ":"))
        return int(self.recorder.insert_checkpoint(payload, self.signer.sign(payload),
                                                   self.signer.fingerprint))

    def latest(self) -> Checkpoint | None:
        row = self.recorder.latest_checkpoint()
        if row is None:
            return None
        if not self.signer.verify(row["payload"], row["signature"]):
            msg = f"checkpoint {row['seq']} does not verify with key {self.signer.fingerprint}"
            raise CheckpointInvalid(msg)
        body = json.loads(row["payload"])
        return Checkpoint(seq=row["seq"], created_at=body["created_at"], heads=body["heads"],
                          key_fingerprint=body["key_fingerprint"], payload=row["payload"],
                          signature=row["signature"])
