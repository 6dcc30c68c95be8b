"""Frozen SQL for revisions: one file per dialect, statements ending at a line that
holds only `;`, `__SCHEMA__` standing for the deployment's PostgreSQL schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg.sql import Identifier


def statements(path: Path, schema: str | None) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if schema is not None:
        text = text.replace("__SCHEMA__", Identifier(schema).as_string())
    body = "\n".join(line for line in text.splitlines() if not line.startswith("-- "))
    return [s.strip() for s in body.split("\n;\n") if s.strip(" \n;")]


def run_file(connection: Any, stem: str, schema: str | None) -> None:
    """Run `<stem>.<dialect>.sql` on the DB-API cursor: no bind-parameter parsing of
    `:` or `%` in function bodies."""
    path = Path(f"{stem}.{connection.dialect.name}.sql")
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        for statement in statements(path, schema):
            cursor.execute(statement)
    finally:
        cursor.close()


def table(schema: str | None, name: str) -> str:
    """A table's name as SQL: schema-qualified on PostgreSQL."""
    return Identifier(schema, name).as_string() if schema else name


def rebuild_view(connection: Any, schema: str | None, view: str, rows_table: str) -> None:
    """Empty a view and reset its position, so the worker (or `casetrail rebuild`)
    refills it from the log: for a revision that changes what a view derives."""
    tracking = table(schema, f"{rows_table}_tracking") if schema else "tracking"
    connection.exec_driver_sql(f"DELETE FROM {table(schema, rows_table)}")
    connection.exec_driver_sql(
        f"DELETE FROM {tracking} WHERE application_name = 'casetrail:{view}'")
