"""AUD-5, the checkpoint log's rules on their own (no store, no key): the digest's
documented form, and what a log whose every signature holds can still get wrong."""

from __future__ import annotations

import hashlib
from uuid import UUID

import pytest

from application.audit import (
    CHECKPOINT_GENESIS,
    Checkpoint,
    Damage,
    Head,
    StoredCheckpoint,
    Verification,
    advance,
    check_log,
    checkpoint_hash,
    checkpoint_payload,
    heads_digest,
)

CASE = "5b0c1f4e-9f57-4b6e-8a8e-2f1f0e1c9d01"
HEADS = {CASE: [3, "ab" * 32]}


def signed(_: str, __: str) -> bool:
    return True


def row(seq: int, prev: str, heads: dict = HEADS, stored_as: int | None = None
        ) -> StoredCheckpoint:
    return StoredCheckpoint(stored_as or seq,
                            checkpoint_payload(seq, prev, "2026-12-02T00:00:00+00:00", heads,
                                               "fp"), "sig")


@pytest.mark.rule("AUD-5")
def test_aud_5_the_digest_is_sha256_over_one_line_per_head_in_case_order() -> None:
    other = "00000000-0000-0000-0000-000000000001"
    expected = hashlib.sha256(f"{other} 1 {'cd' * 32}\n{CASE} 3 {'ab' * 32}\n".encode())
    assert heads_digest(HEADS | {other: [1, "cd" * 32]}) == expected.hexdigest()


@pytest.mark.rule("AUD-5")
def test_aud_5_a_log_in_order_stands() -> None:
    first = row(1, CHECKPOINT_GENESIS)
    second = row(2, checkpoint_hash(first.payload))
    result = check_log([first, second], signed)
    assert result.damage == [] and [c.seq for c in result.checkpoints] == [1, 2]


@pytest.mark.rule("AUD-5")
def test_aud_5_signed_checkpoints_that_do_not_follow_each_other_are_damage() -> None:
    first = row(1, CHECKPOINT_GENESIS)
    assert check_log([first, row(2, "ef" * 32)], signed).damage == [Damage(
        "checkpoint 2 does not follow checkpoint 1: its predecessor was changed or replaced",
        checkpoint=2)]
    assert check_log([row(1, "ef" * 32)], signed).damage[0].checkpoint == 1


@pytest.mark.rule("AUD-5")
def test_aud_5_a_checkpoint_stored_under_another_number_is_damage() -> None:
    first = row(1, CHECKPOINT_GENESIS)
    renumbered = row(2, checkpoint_hash(first.payload), stored_as=3)
    [damage] = check_log([first, renumbered], signed).damage
    assert damage.checkpoint == 3 and "wrong number" in damage.reason


@pytest.mark.rule("AUD-5")
def test_aud_5_heads_that_do_not_match_their_digest_are_damage() -> None:
    good = row(1, CHECKPOINT_GENESIS)
    edited = StoredCheckpoint(1, good.payload.replace("ab" * 32, "ac" * 32), "sig")
    [damage] = check_log([edited], signed).damage
    assert "digest" in damage.reason


@pytest.mark.rule("AUD-5")
def test_aud_5_advance_verifies_only_what_changed() -> None:
    first = check_log([row(1, CHECKPOINT_GENESIS)], signed).checkpoints[0]
    asked: list[tuple[UUID, Head | None]] = []

    def verify_case(case_id: UUID, head: Head | None) -> Verification:
        asked.append((case_id, head))
        return Verification(True, 4)

    new = UUID("00000000-0000-0000-0000-000000000002")
    unchanged = {UUID(CASE): (3, "ab" * 32), new: (1, "ee" * 32)}
    assert advance(first, unchanged, verify_case) == [] and asked == [(new, None)]
    asked.clear()
    assert advance(first, {UUID(CASE): (4, "cd" * 32)}, verify_case) == []
    assert asked == [(UUID(CASE), Head(3, "ab" * 32))]
    assert advance(None, {}, verify_case) == []
    assert isinstance(first, Checkpoint)
