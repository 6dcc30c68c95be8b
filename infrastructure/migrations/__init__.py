"""Schema migrations (Alembic) for every table casetrail owns, on both stores.

`casetrail db upgrade` (and `db init`, the same command) runs `upgrade`: it takes a
lock first (PostgreSQL: a transaction-scoped advisory lock keyed by the schema;
SQLite: `BEGIN IMMEDIATE`), so several processes starting at once apply each
revision once; the others wait, then find nothing to do. Every revision of one run
and the version row commit in one transaction (both stores have transactional DDL):
a failed upgrade leaves the schema as it was.

Revisions live in `versions/`: `0001` is casetrail 0.1.0's schema, frozen as the
SQL its `db init` ran (a 0.1.0 database, which has no version table, upgrades from
it: every statement of 0001 is idempotent). Each later revision changes that
schema; the tables the code would create (`create_table` of the recorders and
views) must equal the upgraded schema, which `tests/integration/test_migrations.py`
checks. To change a table: change its DDL in the code, add a revision with
`down_revision` the previous head, and run that test.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from infrastructure.settings import Settings

VERSION_TABLE = "casetrail_schema_version"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Upgrade:
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _config(settings: Settings, connection: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    config.attributes["schema"] = _schema(settings)
    return config


def _schema(settings: Settings) -> str | None:
    return settings.postgres_schema if settings.database_url is not None else None


@functools.cache
def head() -> str:
    """This release's revision."""
    return ScriptDirectory(str(HERE)).get_current_head() or ""


@contextmanager
def _locked(settings: Settings, wait: int = 60) -> Iterator[Any]:
    """A connection in a transaction that holds the deployment's upgrade lock; it
    commits when the block ends (and releases the lock), rolls back on an error."""
    from sqlalchemy import create_engine, event, text

    if settings.database_url is None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{settings.sqlite_path}",
                               connect_args={"timeout": wait})

        @event.listens_for(engine, "connect")
        def _driver_leaves_transactions_to_us(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _write_lock_first(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        import psycopg

        dsn = settings.database_url.get_secret_value()
        engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(
            dsn, connect_timeout=settings.postgres_connect_timeout))
    try:
        with engine.begin() as connection:
            if settings.database_url is not None:
                from psycopg.sql import Identifier

                from infrastructure.scheduler import advisory_lock_key

                connection.execute(text("SELECT set_config('lock_timeout', :t, true)"),
                                   {"t": f"{wait}s"})
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                   {"k": advisory_lock_key("schema upgrade",
                                                           settings.postgres_schema)})
                schema = Identifier(settings.postgres_schema).as_string()
                connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                connection.exec_driver_sql(f"SET LOCAL search_path TO {schema}, public")
            yield connection
    finally:
        engine.dispose()


def current(settings: Settings) -> str | None:
    """The revision the store is at (None: never upgraded, or not there at all)."""
    with _locked(settings) as connection:
        return _current(connection, settings)


def _current(connection: Any, settings: Settings) -> str | None:
    context = MigrationContext.configure(connection, opts={
        "version_table": VERSION_TABLE, "version_table_schema": _schema(settings)})
    return context.get_current_revision()


def upgrade(settings: Settings, revision: str = "head") -> Upgrade:
    """Bring the store's schema to `revision`; nothing to do is not an error."""
    with _locked(settings) as connection:
        before = _current(connection, settings)
        command.upgrade(_config(settings, connection), revision)
        return Upgrade(before, _current(connection, settings))
