"""Schema migrations on SQLite and PostgreSQL: `db upgrade` arrives at exactly the
schema the code's own DDL makes, upgrades a 0.1.0 database with its data intact,
is idempotent, and is safe with several processes starting at once."""

from __future__ import annotations

import sqlite3
import subprocess
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from application.app import CaseApplication
from application.case_index import SearchFilters
from domain.actors import Role
from infrastructure.bootstrap import build_application, create_tables_from_code, init_schema
from infrastructure.clock import FrozenClock
from infrastructure.migrations import VERSION_TABLE, current, head, upgrade
from infrastructure.settings import Settings
from projections.obligations import ObligationsProjection, construct_view
from projections.reports import ReportsProjection, construct_reports_view
from projections.runtime import ViewRunner
from tests.factories import ctx, record, report_up
from tests.reliability.processes import CASETRAIL, env_for

CST = ZoneInfo("Asia/Shanghai")


def describe(settings: Settings) -> dict[str, Any]:
    """Every table's columns, every index and function: what a schema is, without
    the migration bookkeeping."""
    if settings.database_url is None:
        with sqlite3.connect(settings.sqlite_path) as conn:
            objects = conn.execute(
                "SELECT type, name, tbl_name FROM sqlite_master WHERE tbl_name <> ? "
                "ORDER BY name", (VERSION_TABLE,)).fetchall()
            columns = {name: conn.execute(f"PRAGMA table_info('{name}')").fetchall()
                       for kind, name, _ in objects if kind == "table"}
            indexes = {name: conn.execute(f"PRAGMA index_xinfo('{name}')").fetchall()
                       for kind, name, _ in objects if kind == "index"}
            return {"objects": objects, "columns": columns, "indexes": indexes}
    schema = settings.postgres_schema
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        def rows(sql: str) -> list[Any]:
            return [tuple(str(v).replace(schema, "<schema>") for v in r)
                    for r in conn.execute(sql, {"s": schema}).fetchall()]

        return {
            "columns": rows("SELECT table_name, column_name, data_type, is_nullable, "
                            "column_default, ordinal_position FROM information_schema.columns "
                            f"WHERE table_schema = %(s)s AND table_name <> '{VERSION_TABLE}' "
                            "ORDER BY 1, 6"),
            "indexes": rows("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = "
                            f"%(s)s AND tablename <> '{VERSION_TABLE}' ORDER BY 1"),
            "functions": rows("SELECT p.proname, pg_get_function_identity_arguments(p.oid), "
                              "p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                              "p.pronamespace WHERE n.nspname = %(s)s ORDER BY 1, 2"),
            "types": rows("SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = "
                          "t.typnamespace WHERE n.nspname = %(s)s AND t.typtype = 'c' "
                          "AND t.typrelid NOT IN (SELECT oid FROM pg_class WHERE relkind "
                          "IN ('r', 'v', 'S', 'i')) ORDER BY 1"),
        }


@pytest.fixture
def second_store(store_settings: Settings, tmp_path: Path) -> Any:
    """A second, empty store of the same kind."""
    if store_settings.database_url is None:
        yield store_settings.model_copy(update={"sqlite_path": tmp_path / "other.sqlite3"})
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = store_settings.database_url.get_secret_value()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield store_settings.model_copy(update={"postgres_schema": schema})
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_db_upgrade_arrives_at_the_schema_the_code_makes(
        store_settings: Settings, second_store: Settings) -> None:
    """A table changed in the code without a revision (or a revision the code does
    not match) fails here."""
    assert init_schema(store_settings).after == head()
    create_tables_from_code(second_store)
    assert describe(store_settings) == describe(second_store)


def _a_0_1_0_database(settings: Settings) -> None:
    """What casetrail 0.1.0's `db init` left: revision 0001's tables, no version table."""
    upgrade(settings, "0001")
    if settings.database_url is None:
        with sqlite3.connect(settings.sqlite_path) as conn:
            conn.execute(f"DROP TABLE {VERSION_TABLE}")
    else:
        with psycopg.connect(settings.database_url.get_secret_value(),
                             autocommit=True) as conn:
            conn.execute(f'DROP TABLE "{settings.postgres_schema}".{VERSION_TABLE}')


def _table_rows(cases: CaseApplication, case_id: uuid.UUID) -> dict[str, Any]:
    records, chain = cases.stored_records(case_id)
    return {"events": [(r.version, r.topic, r.state, r.hash) for r in records], "chain": chain,
            "index": cases.search(SearchFilters(case_type="exception"), 10, None).items,
            "obligations": construct_view(cases).rows()}


def test_an_0_1_0_database_upgrades_with_its_data_intact(
        store_settings: Settings, tmp_path: Path) -> None:
    """Events, chain links, index rows and views survive; the reporting view, whose
    derivation 0002 changes, is refilled from the log with the new rule."""
    _a_0_1_0_database(store_settings)
    assert current(store_settings) is None
    entered = datetime(2026, 11, 16, 9, 0, tzinfo=CST)
    clock = FrozenClock(entered)
    cases = build_application(store_settings, clock)
    case = record(ctx(entered, backdating_reason="from the paper log"),
                  discovered_at=datetime(2026, 11, 13, 17, 0, tzinfo=CST))
    report_up(case, ctx(entered), Role.DEPARTMENT_HEAD)
    cases.save_case(case)  # two events: 0.1.0 had only the save function taking arrays
    ViewRunner(cases, ObligationsProjection(cases, construct_view(cases))).catch_up()
    reports = construct_reports_view(cases)
    ViewRunner(cases, ReportsProjection(cases, reports)).catch_up()
    with pytest.raises(Exception, match="casetrail db upgrade"):
        cases.is_ready()  # an old schema is not this release's
    before = _table_rows(cases, case.id)
    cases.close()

    behind = subprocess.run([CASETRAIL, "db", "current"], env=env_for(store_settings),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (behind.returncode, behind.stdout.strip()) == (
        1, f"schema at none, this release needs {head()}")
    result = subprocess.run([CASETRAIL, "db", "upgrade"], env=env_for(store_settings),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"upgraded from revision none to {head()}" in result.stderr
    again = subprocess.run([CASETRAIL, "db", "init"], env=env_for(store_settings),
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert f"already at revision {head()}" in again.stderr, again.stderr

    cases = build_application(store_settings, clock)
    try:
        assert cases.is_ready()
        assert _table_rows(cases, case.id) == before
        assert before["index"] and before["obligations"]
        assert cases.verify_case(case.id).ok
        reports = construct_reports_view(cases)
        assert reports.select("exception") == []  # emptied by 0002 ...
        ViewRunner(cases, ReportsProjection(cases, reports)).catch_up()
        [facts] = reports.select("exception")  # ... and refilled: counted by discovery
        assert facts.opened_at == case.discovered_at
    finally:
        cases.close()


def test_several_processes_upgrading_at_once_apply_each_revision_once(
        store_settings: Settings, second_store: Settings, tmp_path: Path) -> None:
    runs = [subprocess.Popen([CASETRAIL, "db", "upgrade"], env=env_for(store_settings),
                             cwd=tmp_path, stderr=subprocess.PIPE, text=True)
            for _ in range(4)]
    outputs = [(run.wait(timeout=120), run.stderr.read()) for run in runs]  # type: ignore[union-attr]
    assert [code for code, _ in outputs] == [0, 0, 0, 0], outputs
    assert sum("upgraded from revision none" in out for _, out in outputs) == 1, outputs
    assert sum("already at revision" in out for _, out in outputs) == 3, outputs
    create_tables_from_code(second_store)
    assert describe(store_settings) == describe(second_store)


def test_a_store_behind_this_release_is_not_ready_until_upgraded(
        store_settings: Settings, clock: FrozenClock) -> None:
    upgrade(store_settings, "0001")
    cases = build_application(store_settings, clock)
    try:
        with pytest.raises(Exception, match=f"at revision 0001, this release needs {head()}"):
            cases.is_ready()
        upgrade(store_settings)
        assert cases.is_ready()
        assert upgrade(store_settings).changed is False  # idempotent
    finally:
        cases.close()
