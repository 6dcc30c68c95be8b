"""SEC-AUTH-1 tokens, and transcodings for every stored value type."""

from __future__ import annotations

import dataclasses
from datetime import date, time, timedelta
from enum import Enum

import jwt
import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from domain.actors import Actor, EventMeta, Role
from domain.service_exceptions.values import Category, Contact, Customer, Level, Report, Status
from infrastructure.clock import FrozenClock
from infrastructure.tokens import InvalidToken, TokenService
from infrastructure.transcodings import domain_value_types, register_all
from tests.conftest import SECRET, T0


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(SECRET, FrozenClock(T0))


def test_sec_auth_1_token_round_trip_gives_the_actor(tokens: TokenService) -> None:
    token = tokens.issue("li.wei", [Role.FRONTLINE, Role.CS_HEAD], "after_sales")
    assert tokens.verify(token) == Actor("li.wei", (Role.FRONTLINE, Role.CS_HEAD), "after_sales")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["roles"] == ["frontline", "cs_head"] and claims["sub"] == "li.wei"


def test_sec_auth_1_expiry_follows_the_injected_clock() -> None:
    clock = FrozenClock(T0)
    tokens = TokenService(SECRET, clock)
    token = tokens.issue("li.wei", [Role.FRONTLINE], ttl=timedelta(minutes=30))
    clock.advance(timedelta(minutes=29))
    tokens.verify(token)
    clock.advance(timedelta(minutes=1))
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(token)


@pytest.mark.parametrize("claims", [
    {"sub": "x", "roles": ["wizard"]},
    {"sub": "x", "roles": []},
    {"sub": "x"},
    {"sub": "x", "roles": ["frontline"], "exp": "tomorrow"},
])
def test_sec_auth_1_tokens_with_bad_claims_are_refused(tokens: TokenService, claims: dict) -> None:
    now = int(T0.timestamp())
    token = jwt.encode({"iss": "casetrail", "iat": now, "exp": now + 60} | claims, SECRET)
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_sec_auth_1_a_token_signed_with_another_key_is_refused(tokens: TokenService) -> None:
    other = TokenService("another-secret-" + "y" * 40, FrozenClock(T0))
    with pytest.raises(InvalidToken):
        tokens.verify(other.issue("li.wei", [Role.FRONTLINE]))


def test_every_domain_enum_and_value_object_has_a_transcoding() -> None:
    found = set(domain_value_types())
    assert {Role, Category, Level, Status, Actor, EventMeta, Customer, Contact, Report} <= found


def test_values_come_back_from_the_transcoder_as_their_own_types() -> None:
    transcoder = JSONTranscoder()
    for library_default in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):  # the Application's
        transcoder.register(library_default)
    register_all(transcoder)
    actor = Actor("li.wei", (Role.CS_HEAD, Role.FRONTLINE), "ops")
    samples = [
        EventMeta(actor, "corr", "report_up"),
        Customer("C-1", "ACME", True, Contact("Wang", None, "w@acme.example")),
        Report("li.wei", (Role.GROUP_LEADER, Role.PRINCIPAL), T0, "d", "j", "c", "m"),
        date(2026, 10, 10), time(18, 0), timedelta(hours=2),
        *[member for cls in domain_value_types() if issubclass(cls, Enum) for member in cls],
    ]
    for value in samples:
        decoded = transcoder.decode(transcoder.encode({"v": value}))["v"]
        assert decoded == value and type(decoded) is type(value), value
        if dataclasses.is_dataclass(value):
            assert all(not isinstance(getattr(decoded, f.name), list)
                       for f in dataclasses.fields(decoded))
