"""Personal data at rest (SEC-PII, PIPL, RET-3, RET-4): customer contacts are sealed
with a data key of their own customer (AES-256-GCM), the data key is stored wrapped by
a versioned key-encryption key (KEK), and destroying a customer's data key (crypto-shredding)
makes every stored copy of the contact unreadable — in events and snapshots alike —
while the stored bytes, and so the hash chain, stay as they were.

Sealing is a transcoding installed in the application's mapper: a `Customer` is
stored with its contact as ciphertext, and read back with the contact opened, or
as an `[erased]` placeholder once the key is gone.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import CanSnapshotAggregate, DomainEventProtocol
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, Transcoder, Transcoding

from application.app import SnapshotUnreadable, customers_saved, key_epoch_read
from domain.cases import Case
from domain.personal import ERASED as ERASED_TEXT
from domain.personal import personal_fields
from domain.service_exceptions.values import Contact, Customer
from domain.surveys.directory import DirectoryContact
from domain.surveys.responses import RespondentClass
from infrastructure.settings import Settings
from infrastructure.transcodings import domain_value_types, stored_name

ERASED = Contact(name="[erased]")


class KekDestroyed(LookupError):
    """The key-encryption key of that version is gone (or was never made here)."""


class KeyEncryptionKeys(Protocol):
    """Versioned key-encryption keys (RET-4): the one interface the key ring needs.
    `KekFiles` is the default; a KMS or Vault's transit engine fits the same calls
    (create = rotate, destroy_before = trim; docs/OPERATIONS.md)."""

    def wrap(self, version: int, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, version: int, wrapped: bytes, context: bytes) -> bytes:
        """Raises KekDestroyed when that version no longer exists."""

    def create(self) -> int:
        """A new version, durable before it is returned."""

    def destroy_before(self, version: int) -> list[int]:
        """Destroy every older version; the ones destroyed."""


class KekFiles:
    """KEKs as files `kek-NNNNNN.hex` (mode 600) in one directory every process of
    the deployment shares. Nothing is cached: a destroyed version is gone from every
    process at once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, version: int) -> Path:
        return self.directory / f"kek-{version:06d}.hex"

    def versions(self) -> list[int]:
        return sorted(int(p.stem.removeprefix("kek-")) for p in self.directory.glob("kek-*.hex"))

    def add(self, version: int, key: bytes) -> bool:
        """Write the version unless it exists (another process's wins); atomic."""
        tmp = self.directory / f".kek-{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key.hex().encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, self.path(version))
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
            self._sync_directory()

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _aead(self, version: int) -> AESGCM:
        try:
            return AESGCM(bytes.fromhex(self.path(version).read_text().strip()))
        except FileNotFoundError:
            raise KekDestroyed(f"key-encryption key version {version}") from None

    def wrap(self, version: int, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead(version).encrypt(nonce, data_key, context)

    def unwrap(self, version: int, wrapped: bytes, context: bytes) -> bytes:
        return self._aead(version).decrypt(wrapped[:12], wrapped[12:], context)

    def create(self) -> int:
        while not self.add(version := max(self.versions(), default=0) + 1,
                            AESGCM.generate_key(bit_length=256)):
            continue
        return version

    def destroy_before(self, version: int) -> list[int]:
        gone = [v for v in self.versions() if v < version]
        for v in gone:
            path = self.path(v)
            with path.open("r+b") as f:  # overwrite in place first: no copy on most file systems
                f.write(b"0" * len(f.read()))
                f.flush()
                os.fsync(f.fileno())
            path.unlink()
        self._sync_directory()
        return gone


def kek_files(settings: Settings) -> KekFiles:
    """The file KEKs of the settings. Version 1 is the configured master key, or the
    master key file of earlier releases moved in (so that destroying version 1
    destroys it), or a new key. Processes starting together agree: the first
    version 1 written stays."""
    files = KekFiles(settings.kek_dir or settings.master_key_file.parent / "keks")
    if files.versions():
        return files
    legacy = settings.master_key_file
    if settings.master_key is not None:
        files.add(1, _master_key(settings.master_key.get_secret_value()))
    elif legacy.exists():
        _master_key(legacy.read_text())
        with contextlib.suppress(FileExistsError):
            os.link(legacy, files.path(1))
        legacy.unlink(missing_ok=True)
    else:
        files.add(1, AESGCM.generate_key(bit_length=256))
    return files


def _master_key(text: str) -> bytes:
    key = bytes.fromhex(text.strip())
    if len(key) != 32:
        msg = "the master key must be 32 bytes (64 hex digits)"
        raise ValueError(msg)
    return key


class KeyStore(Protocol):
    """What the key ring needs of the store (infrastructure.persistence.CustomerKeys)."""

    def wrapped_key(self, customer_id: str) -> str | None: ...

    def add_wrapped_key(self, customer_id: str, wrap: Callable[[int], str]) -> str: ...

    def destroy_key(self, customer_id: str) -> None: ...

    def rewrap_keys(self, version: int, rewrap: Callable[[str, str], str]) -> int | None: ...

    def rotation_due(self) -> bool: ...


class KeyRing:
    """Per-customer data keys, wrapped by a versioned KEK, kept by the store. The
    store is bound after the application is built (its mapper comes first).

    RET-4, no cache outlives a destroyed key: a data key is cached only for reads
    that carry the store's key epoch (a case read gets it in the same query, so the
    cache costs no round trip); a newer epoch empties the cache before it is used.
    Other reads fetch the wrapped key each time."""

    def __init__(self, keks: KeyEncryptionKeys) -> None:
        self.keks = keks
        self._store: KeyStore | None = None
        self._cache: dict[str, bytes] = {}
        self._epoch = -1
        self._lock = threading.Lock()

    def bind(self, store: KeyStore) -> None:
        self._store = store

    @property
    def store(self) -> KeyStore:
        if self._store is None:
            msg = "the key ring is not bound to a store"
            raise RuntimeError(msg)
        return self._store

    def _wrap(self, customer_id: str, data_key: bytes, version: int) -> str:
        wrapped = self.keks.wrap(version, data_key, customer_id.encode())
        return f"{version}:{base64.b64encode(wrapped).decode()}"

    def _unwrap(self, customer_id: str, wrapped: str) -> bytes:
        version, _, blob = wrapped.rpartition(":")  # keys from before versioning: 1
        return self.keks.unwrap(int(version or 1), base64.b64decode(blob),
                                customer_id.encode())

    def _fetch(self, customer_id: str, *, create: bool) -> bytes | None:
        for _ in range(3):
            wrapped = self.store.wrapped_key(customer_id)
            if wrapped is None and create:
                wrapped = self.store.add_wrapped_key(customer_id, functools.partial(
                    self._wrap, customer_id, AESGCM.generate_key(bit_length=256)))
            if wrapped is None:
                return None
            try:
                return self._unwrap(customer_id, wrapped)
            except KekDestroyed:  # rewrapped by a rotation since it was read: read again
                continue
        msg = f"the key of customer {customer_id} is wrapped by a destroyed KEK"
        raise KekDestroyed(msg)

    def key(self, customer_id: str, *, create: bool) -> bytes | None:
        epoch = key_epoch_read.get()
        if epoch is not None:
            with self._lock:
                if epoch > self._epoch:
                    self._cache.clear()
                    self._epoch = epoch
                if epoch == self._epoch and customer_id in self._cache:
                    return self._cache[customer_id]
        data_key = self._fetch(customer_id, create=create)
        if data_key is not None and epoch is not None:
            with self._lock:
                if epoch == self._epoch:  # no newer epoch was seen while fetching
                    self._cache[customer_id] = data_key
        return data_key

    def destroy(self, customer_id: str) -> None:
        """Crypto-shredding: the wrapped key is deleted; nothing can open the data."""
        self.store.destroy_key(customer_id)
        with self._lock:
            self._cache.pop(customer_id, None)

    def rotate(self) -> int | None:
        """RET-4: every data key rewrapped under a new KEK, then the older KEKs
        destroyed, so a destroyed data key's remnants (WAL, table files, backups)
        unwrap to nothing. The new version, or None when a concurrent rotation got
        further (its own run destroys the older KEKs)."""
        version = self.keks.create()
        done = self.store.rewrap_keys(version, lambda customer_id, wrapped: self._wrap(
            customer_id, self._unwrap(customer_id, wrapped), version))
        if done is None:
            return None
        self.keks.destroy_before(version)
        return version

    def rotation_due(self) -> bool:
        return self.store.rotation_due()


def key_id(data_key: bytes) -> str:
    """A data key's public name, stored with what it seals: a one-way digest, so it
    reveals nothing of the key, destroyed or not."""
    return hashlib.sha256(b"casetrail data key id\0" + data_key).hexdigest()[:16]


def seal(keys: KeyRing, customer_id: str, values: list[Any]) -> str:
    """`<key id>.<base64 of nonce + AES-GCM ciphertext>`."""
    data_key = keys.key(customer_id, create=True)
    assert data_key is not None
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(data_key).encrypt(nonce, json.dumps(values).encode(),
                                              customer_id.encode())
    return f"{key_id(data_key)}.{base64.b64encode(sealed).decode()}"


def unseal(keys: KeyRing, customer_id: str, blob: str) -> list[Any] | None:
    """The sealed values, or None once the key that sealed them is destroyed (RET-3):
    the customer has no key, or a newer one (a customer who came back after a purge
    gets a fresh key; what the destroyed one sealed stays erased)."""
    data_key = keys.key(customer_id, create=False)
    if data_key is None:
        return None
    named, dot, body = blob.rpartition(".")
    if dot and named != key_id(data_key):
        return None
    raw = base64.b64decode(body)
    try:
        opened = AESGCM(data_key).decrypt(raw[:12], raw[12:], customer_id.encode())
    except InvalidTag as e:
        if dot:  # the key that sealed it does not open it: the bytes were changed
            raise ValueError("sealed personal data does not open under its key") from e
        return None  # sealed before key ids were stored: under a key destroyed since
    return list(json.loads(opened))


class SealedCustomer(Transcoding):
    """Stores a Customer with its contact sealed under the customer's data key."""

    type = Customer
    name = "pii:Customer"

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def encode(self, obj: Customer) -> dict[str, Any]:
        return {"id": obj.id, "key_account": obj.key_account,
                "contact": seal(self.keys, obj.id, [obj.contact.name, obj.contact.phone,
                                                    obj.contact.email, obj.name])}

    def decode(self, data: dict[str, Any]) -> Customer:
        """Customers stored before RET-4 have their name in the clear."""
        values = unseal(self.keys, data["id"], data["contact"])
        contact = ERASED if values is None else Contact(*values[:3])
        name = data.get("name") or (values[3] if values is not None else ERASED_TEXT)
        return Customer(id=data["id"], name=name, key_account=data["key_account"],
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


class SealedFields(Transcoding):
    """A value object with fields marked personal (domain.personal): those are sealed
    together under the key of the object's own `customer_id`, or of the customer of
    the case being saved; with neither they are stored as they are. Objects stored
    before the marking read back as they were."""

    def __init__(self, cls: type, keys: KeyRing) -> None:
        self.type = cls
        self.name = stored_name(cls)
        self.keys = keys
        self.fields = [f.name for f in dataclasses.fields(cls)]
        self.personal = personal_fields(cls)

    def encode(self, obj: Any) -> dict[str, Any]:
        data = {name: getattr(obj, name) for name in self.fields}
        customer = data.get("customer_id") or sealing_for.get()
        hidden = {n: data.pop(n) for n in self.personal if data[n] is not None}
        if customer is None or not hidden:
            return data | hidden
        return data | {PERSONAL_KEY: {"customer": customer, "names": list(hidden),
                                      "sealed": seal(self.keys, customer, list(hidden.values()))}}

    def decode(self, data: dict[str, Any]) -> Any:
        opened = _opened(self.keys, data.pop(PERSONAL_KEY, None))
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return self.type(**values, **opened)


PERSONAL_KEY = "_personal"
sealing_for: ContextVar[str | None] = ContextVar("casetrail_sealing_for", default=None)
"""The customer of the case whose events are being encoded."""


def _opened(keys: KeyRing, sealed: dict[str, Any] | None) -> dict[str, Any]:
    if sealed is None:
        return {}
    values = unseal(keys, sealed["customer"], sealed["sealed"])
    return dict(zip(sealed["names"], values or [ERASED_TEXT] * len(sealed["names"]),
                    strict=True))


class SealingMapper(Mapper[UUID]):
    """Seals what the events and snapshots of a case with a customer hold of that
    customer's personal data (RET-3, RET-4):

    - value-object fields marked personal, by `SealedFields`;
    - the events' free-text attributes the case type names in `personal_text`,
      together under one `_personal` entry;
    - a snapshot as a whole: once the key is gone it cannot be read, and the case is
      replayed from its events, whose other attributes are in the clear.

    The customer of each case comes from the application while it saves."""

    SNAPSHOT_KEY = "_sealed_snapshot"

    def __init__(self, transcoder: Transcoder, keys: KeyRing) -> None:
        super().__init__(transcoder)
        self.keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        customer = customers_saved.get().get(domain_event.originator_id)
        if customer is None:
            return super().to_stored_event(domain_event)
        token = sealing_for.set(customer)
        try:
            if isinstance(domain_event, CanSnapshotAggregate):
                stored = super().to_stored_event(domain_event)
                return dataclasses.replace(stored, state=self.transcoder.encode({
                    self.SNAPSHOT_KEY: {"customer": customer, "sealed": seal(
                        self.keys, customer, [stored.state.decode()])}}))
            names = [n for n in _personal_text(type(domain_event))
                     if isinstance(vars(domain_event).get(n), str)]
            if not names:
                return super().to_stored_event(domain_event)
            shown = object.__new__(type(domain_event))
            state = dict(vars(domain_event))
            hidden = [state.pop(n) for n in names]
            state[PERSONAL_KEY] = {"customer": customer, "names": names,
                                   "sealed": seal(self.keys, customer, hidden)}
            object.__setattr__(shown, "__dict__", state)
            return super().to_stored_event(shown)
        finally:
            sealing_for.reset(token)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        if stored_event.state.startswith(b'{"' + self.SNAPSHOT_KEY.encode()):
            sealed = self.transcoder.decode(stored_event.state)[self.SNAPSHOT_KEY]
            opened = unseal(self.keys, sealed["customer"], sealed["sealed"])
            if opened is None:
                raise SnapshotUnreadable(stored_event.originator_id)
            stored_event = dataclasses.replace(stored_event, state=opened[0].encode())
        domain_event = super().to_domain_event(stored_event)
        state = vars(domain_event)
        if PERSONAL_KEY in state:
            state |= _opened(self.keys, state.pop(PERSONAL_KEY))
        return domain_event


@functools.cache
def _personal_text(event_class: type) -> frozenset[str]:
    """The free-text attributes the event's case type marks personal."""
    owner = event_class.__qualname__.partition(".")[0]
    for case_type in _subclasses(Case):
        if case_type.__name__ == owner:
            return case_type.personal_text
    return frozenset()


def _subclasses(cls: type[Case]) -> list[type[Case]]:
    return [s for c in cls.__subclasses__() for s in (c, *_subclasses(c))]


def install_sealing(keys: KeyRing) -> Callable[[JSONTranscoder], None]:
    def install(transcoder: JSONTranscoder) -> None:
        for cls in domain_value_types():
            if dataclasses.is_dataclass(cls) and personal_fields(cls):
                transcoder.register(SealedFields(cls, keys))
        transcoder.register(SealedCustomer(keys))
        transcoder.register(SealedDirectoryContact(keys))
    return install
