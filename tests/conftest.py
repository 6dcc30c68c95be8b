"""Fixtures shared by every tier.

`store_settings` runs a test once on a fresh SQLite file and once on a fresh
PostgreSQL schema. Under CI=true PostgreSQL must be reachable: the run fails
loudly instead of skipping. Elsewhere the PostgreSQL half skips with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from application.app import CaseApplication
from domain.actors import Role
from infrastructure.bootstrap import build_application, init_schema
from infrastructure.clock import FrozenClock
from infrastructure.settings import Settings

PG_URL = os.environ.get("CASETRAIL_TEST_DATABASE_URL",
                        "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RUN_SLOW = IN_CI or os.environ.get("CASETRAIL_SLOW_TESTS") == "1"
SECRET = "test-secret-" + "x" * 40
T0 = datetime(2026, 9, 30, 7, 0, tzinfo=UTC)
"""Wed 2026-09-30 15:00 CST: the DOMAIN.md CAL-3 example's start."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow reliability runs (R1-R4) always run in CI; on a laptop only on request."""
    if RUN_SLOW:
        return
    skip = pytest.mark.skip(reason="slow reliability run: set CASETRAIL_SLOW_TESTS=1 "
                                   "(always runs under CI=true)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _routes_resolved_once_per_session() -> Iterator[None]:
    """FastAPI resolves an included router's routes (each one's dependencies, request
    and response models) lazily, once per app, at the router's first request. A
    server makes one app; this suite makes one per test, and resolving the same
    routes again was a third of the API tests' time. Here a route resolved for one
    app serves every later app: each is made by `create_app`, which includes the
    same routers the same way (and no test overrides dependencies, which is what
    would differ between apps). Server processes the tests start are unaffected.
    A FastAPI without this internal leaves the tests as they are, only slower."""
    from fastapi import routing

    context = getattr(routing, "_EffectiveRouteContext", None)
    if context is None or not hasattr(context, "from_api_route"):
        yield
        return
    resolve = context.from_api_route.__func__
    resolved: dict[tuple[int, str], Any] = {}

    def once(cls: type, *, original_route: Any, include_context: Any) -> Any:
        key = (id(original_route), include_context.prefix)
        if key not in resolved:
            resolved[key] = resolve(cls, original_route=original_route,
                                    include_context=include_context)
        return resolved[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(context, "from_api_route", classmethod(once))
        yield


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test, never from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("CASETRAIL_") and name != "CASETRAIL_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            pass
    except psycopg.Error as e:
        reason = f"PostgreSQL at {PG_URL} is not reachable: {e}"
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL. {reason}", pytrace=False)
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def _sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(sqlite_path=tmp_path / "store.sqlite3", secret_key=SECRET,
                    secret_key_file=tmp_path / "secret.key",
                    signing_key_file=tmp_path / "signing.key",
                    master_key_file=tmp_path / "master.key",
                    witness_file=tmp_path / "checkpoints.jsonl")


@pytest.fixture
def postgres_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Settings(database_url=url, postgres_schema=schema, secret_key=SECRET,
                       secret_key_file=tmp_path / "secret.key",
                       signing_key_file=tmp_path / "signing.key",
                       master_key_file=tmp_path / "master.key",
                       witness_file=tmp_path / "checkpoints.jsonl", postgres_pool_size=2)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return _sqlite_settings(tmp_path)
    return request.getfixturevalue("postgres_settings")  # type: ignore[no-any-return]


@pytest.fixture
def cases(store_settings: Settings, clock: FrozenClock) -> Iterator[CaseApplication]:
    init_schema(store_settings)
    app = build_application(store_settings, clock)
    yield app
    app.close()


@pytest.fixture
def make_token(clock: FrozenClock) -> Callable[..., str]:
    from infrastructure.tokens import TokenService

    service = TokenService(SECRET, clock)

    def make(user: str = "li.wei", *roles: Role, department: str | None = "after_sales",
             ttl: timedelta = timedelta(hours=8)) -> str:
        return service.issue(user, list(roles or (Role.FRONTLINE,)), department, ttl)

    return make


@pytest.fixture
def client(store_settings: Settings, clock: FrozenClock,
           cases: CaseApplication) -> Iterator[TestClient]:
    with TestClient(create_app(store_settings, clock, cases)) as test_client:
        yield test_client
