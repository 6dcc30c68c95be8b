"""The key ring on a real store (RET-3, RET-4): KEK versions, rotation racing new
keys, and keys from before versioning."""

from __future__ import annotations

import base64
import os
import threading

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.app import CaseApplication
from infrastructure.settings import Settings


def kek_names(settings: Settings) -> list[str]:
    return sorted(p.name for p in (settings.master_key_file.parent / "keks").iterdir())


@pytest.mark.rule("RET-4")
def test_ret_4_keys_added_while_a_rotation_runs_are_wrapped_by_the_kek_it_leaves(
        cases: CaseApplication, store_settings: Settings) -> None:
    keys = cases.keys  # type: ignore[attr-defined]
    first = {f"A{i}": keys.key(f"A{i}", create=True) for i in range(20)}
    added: dict[str, bytes] = {}

    def add() -> None:
        for i in range(40):
            added[f"B{i}"] = keys.key(f"B{i}", create=True)

    writer = threading.Thread(target=add)
    writer.start()
    versions = [keys.rotate() for _ in range(3)]
    writer.join()

    assert versions == [2, 3, 4] and kek_names(store_settings) == ["kek-000004.hex"]
    for customer, data_key in {**first, **added}.items():
        assert keys.store.wrapped_key(customer).startswith("4:")
        assert keys.key(customer, create=False) == data_key  # still opens, nothing lost
    assert not keys.rotation_due()


@pytest.mark.rule("RET-4")
def test_ret_4_a_stale_rotation_does_nothing_and_destroys_nothing(
        cases: CaseApplication, store_settings: Settings) -> None:
    keys = cases.keys  # type: ignore[attr-defined]
    data_key = keys.key("A", create=True)
    stale = keys.keks.create()  # version 2, made by a rotation that then stalled
    assert keys.rotate() == 3
    assert keys.store.rewrap_keys(stale, lambda c, w: "broken") is None  # it wakes up late
    assert keys.key("A", create=False) == data_key


@pytest.mark.rule("RET-4")
@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)
def test_ret_4_the_master_key_of_earlier_releases_becomes_kek_version_1(
        store_settings: Settings, clock) -> None:
    from infrastructure.bootstrap import build_application, init_schema

    master = os.urandom(32)
    store_settings.master_key_file.write_text(master.hex())
    init_schema(store_settings)
    app = build_application(store_settings, clock)
    try:
        data_key = os.urandom(32)
        nonce = os.urandom(12)
        legacy = base64.b64encode(nonce + AESGCM(master).encrypt(nonce, data_key, b"C-9"))
        app.recorder._write(  # type: ignore[attr-defined]
            "INSERT INTO casetrail_customer_keys VALUES (?, ?)", ["C-9", legacy.decode()])
        assert not store_settings.master_key_file.exists()
        assert kek_names(store_settings) == ["kek-000001.hex"]
        assert app.keys.key("C-9", create=False) == data_key  # type: ignore[attr-defined]
        app.keys.rotate()  # type: ignore[attr-defined]
        assert app.keys.key("C-9", create=False) == data_key  # type: ignore[attr-defined]
        assert kek_names(store_settings) == ["kek-000002.hex"]
    finally:
        app.close()


@pytest.mark.rule("RET-3")
def test_ret_3_a_customer_back_after_a_purge_gets_a_new_key_and_the_old_data_stays_erased(
        cases: CaseApplication, clock) -> None:
    """What the destroyed key sealed reads as erased, not as damage, once the
    customer's next case has made a new key; the new case reads in full."""
    from domain.personal import ERASED
    from domain.service_exceptions.model import ServiceException
    from infrastructure.personal_data import seal, unseal
    from tests.factories import ctx, record

    keys = cases.keys  # type: ignore[attr-defined]
    purged = record(ctx(clock.now()))
    cases.save_case(purged)
    before_key_ids = seal(keys, "C-1", ["x"]).partition(".")[2]  # as 0.2.0 stored it
    keys.destroy("C-1")
    back = record(ctx(clock.now()))
    cases.save_case(back)

    old = cases.get_case(ServiceException, purged.id)
    assert (old.customer.contact.name, old.customer.contact.phone) == (ERASED, None)
    assert len(cases.history(ServiceException, purged.id)) == 1
    assert cases.get_case(ServiceException, back.id).customer.contact.name == "Wang Fang"
    assert unseal(keys, "C-1", before_key_ids) is None
    named, _, body = seal(keys, "C-1", ["y"]).partition(".")
    changed = base64.b64encode(bytes([base64.b64decode(body)[0] ^ 1]) + base64.b64decode(body)[1:])
    with pytest.raises(ValueError, match="does not open"):  # damage, not erasure
        unseal(keys, "C-1", f"{named}.{changed.decode()}")
