"""Personal data at rest (SEC-PII, PIPL, RET-3): customer contacts are sealed with a
data key of their own customer (AES-256-GCM), the data key is stored wrapped by the
master key from settings, and destroying a customer's data key (crypto-shredding)
makes every stored copy of the contact unreadable — in events and snapshots alike —
while the stored bytes, and so the hash chain, stay as they were.

Sealing is a transcoding installed in the application's mapper: a `Customer` is
stored with its contact as ciphertext, and read back with the contact opened, or
as an `[erased]` placeholder once the key is gone.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.service_exceptions.values import Contact, Customer
from domain.surveys.directory import DirectoryContact
from domain.surveys.responses import RespondentClass
from infrastructure.key_files import key_material
from infrastructure.settings import Settings

ERASED = Contact(name="[erased]")


def load_master_key(settings: Settings) -> bytes:
    key = bytes.fromhex(key_material(settings.master_key, settings.master_key_file,
                                     lambda: secrets.token_hex(32)))
    if len(key) != 32:
        msg = "the master key must be 32 bytes (64 hex digits)"
        raise ValueError(msg)
    return key


class KeyRing:
    """Per-customer data keys, wrapped by the master key, kept by the recorder. The
    recorder is bound after the application is built (its mapper comes first)."""

    def __init__(self, master_key: bytes) -> None:
        self._recorder: Any = None
        self._master = AESGCM(master_key)
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def bind(self, recorder: Any) -> None:
        self._recorder = recorder

    def _store(self) -> Any:
        if self._recorder is None:
            msg = "the key ring is not bound to a store"
            raise RuntimeError(msg)
        return self._recorder

    def _unwrap(self, customer_id: str, wrapped: str) -> bytes:
        raw = base64.b64decode(wrapped)
        return self._master.decrypt(raw[:12], raw[12:], customer_id.encode())

    def key(self, customer_id: str, *, create: bool) -> bytes | None:
        with self._lock:
            if customer_id in self._cache:
                return self._cache[customer_id]
        wrapped = self._store().wrapped_key(customer_id)
        if wrapped is None and create:
            data_key = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(12)
            sealed = nonce + self._master.encrypt(nonce, data_key, customer_id.encode())
            # Another process may create the key first: the store keeps the first.
            wrapped = self._store().add_wrapped_key(customer_id,
                                                    base64.b64encode(sealed).decode())
        if wrapped is None:
            return None
        data_key = self._unwrap(customer_id, wrapped)
        with self._lock:
            self._cache[customer_id] = data_key
        return data_key

    def destroy(self, customer_id: str) -> None:
        """Crypto-shredding: the wrapped key is deleted; nothing can open the data."""
        self._store().destroy_key(customer_id)
        with self._lock:
            self._cache.pop(customer_id, None)

    def forget(self, customer_id: str) -> None:
        """Drop a cached key (another process may have destroyed it)."""
        with self._lock:
            self._cache.pop(customer_id, None)


def seal(keys: KeyRing, customer_id: str, values: list[Any]) -> str:
    data_key = keys.key(customer_id, create=True)
    assert data_key is not None
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(data_key).encrypt(nonce, json.dumps(values).encode(),
                                              customer_id.encode())
    return base64.b64encode(sealed).decode()


def unseal(keys: KeyRing, customer_id: str, blob: str) -> list[Any] | None:
    """The sealed values, or None once the customer's key is destroyed."""
    data_key = keys.key(customer_id, create=False)
    if data_key is None:
        return None
    raw = base64.b64decode(blob)
    return list(json.loads(AESGCM(data_key).decrypt(raw[:12], raw[12:], customer_id.encode())))


class SealedCustomer(Transcoding):
    """Stores a Customer with its contact sealed under the customer's data key."""

    type = Customer
    name = "pii:Customer"

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def encode(self, obj: Customer) -> dict[str, Any]:
        return {"id": obj.id, "name": obj.name, "key_account": obj.key_account,
                "contact": seal(self.keys, obj.id, [obj.contact.name, obj.contact.phone,
                                                    obj.contact.email])}

    def decode(self, data: dict[str, Any]) -> Customer:
        values = unseal(self.keys, data["id"], data["contact"])
        contact = ERASED if values is None else Contact(*values)
        return Customer(id=data["id"], name=data["name"], key_account=data["key_account"],
                        contact=contact)


class SealedDirectoryContact(Transcoding):
    """A directory contact: name, phone and e-mail sealed; the class stays readable."""

    type = DirectoryContact
    name = "pii:DirectoryContact"

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def encode(self, obj: DirectoryContact) -> dict[str, Any]:
        return {"customer_id": obj.customer_id, "class": obj.respondent_class.value,
                "sealed": seal(self.keys, obj.customer_id, [obj.name, obj.phone, obj.email])}

    def decode(self, data: dict[str, Any]) -> DirectoryContact:
        values = unseal(self.keys, data["customer_id"], data["sealed"])
        name, phone, email = values if values is not None else (ERASED.name, None, None)
        return DirectoryContact(data["customer_id"], name, phone, email,
                                RespondentClass(data["class"]))


def install_sealing(keys: KeyRing) -> Callable[[JSONTranscoder], None]:
    def install(transcoder: JSONTranscoder) -> None:
        transcoder.register(SealedCustomer(keys))
        transcoder.register(SealedDirectoryContact(keys))
    return install
