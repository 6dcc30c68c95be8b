"""What the views share on both backends: one SQL text with `{p}` placeholders,
and how each backend stores instants and ids and runs a transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from functools import cached_property
from operator import attrgetter
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.sqlite import SQLiteDatastore
from psycopg.sql import Identifier

from application.access import current_scope
from infrastructure.persistence import sqlite_instant

T = TypeVar("T")


class SqlView:
    placeholder: str
    datastore: Any
    table: str
    columns: tuple[str, ...]
    instants: frozenset[str]

    def _sql(self, text: str) -> str:
        return text.replace("{p}", self.placeholder)

    @staticmethod
    def _in_scope(where: list[str], params: list[Any]) -> None:
        """SEC-AUTH-2: only the rows of the caller's departments, when it is scoped."""
        scope = current_scope.get()
        if scope is not None and scope.departments is not None:
            where.append(f"department IN ({', '.join(['{p}'] * len(scope.departments))})"
                         if scope.departments else "1 = 0")
            params += sorted(scope.departments)

    def _instant(self, value: datetime) -> Any:
        return value

    def _uuid(self, value: UUID) -> Any:
        return value

    @staticmethod
    def _read_instant(value: Any) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor

    def _fetch(self, sql: str, params: list[Any]) -> list[Any]:
        return self._fetch_together([(sql, params)])[0]

    def _fetch_together(self, queries: Sequence[tuple[str, list[Any]]]) -> list[list[Any]]:
        """Each query's rows, all read from one snapshot of the database."""
        raise NotImplementedError

    @property
    def tracking_table(self) -> str:
        raise NotImplementedError

    def _reset_tracking(self, c: Any, tracking_name: str) -> None:
        c.execute(self._sql(f"DELETE FROM {self.tracking_table} WHERE application_name = {{p}}"),
                  [tracking_name])

    @cached_property
    def _values(self) -> Callable[[Any], Sequence[Any]]:
        return attrgetter(*self.columns)

    def _params(self, row: Any) -> Sequence[Any]:
        """A row's values in `columns` order, as this backend stores them."""
        return self._values(row)

    def _replace(self, c: Any, case_ids: Sequence[UUID], rows: Sequence[Sequence[Any]]) -> None:
        """Replace the rows of these cases with `rows`: a DELETE per 500 cases and one
        batched INSERT, whatever the number of cases (B3)."""
        for start in range(0, len(case_ids), 500):
            chunk = case_ids[start:start + 500]
            c.execute(self._sql(f"DELETE FROM {self.table} WHERE case_id IN "
                                f"({', '.join(['{p}'] * len(chunk))})"),
                      [self._uuid(case_id) for case_id in chunk])
        if rows:
            self._insert(c, rows)

    def _insert(self, c: Any, rows: Sequence[Sequence[Any]]) -> None:
        c.executemany(self._sql(f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES "
                                f"({', '.join(['{p}'] * len(self.columns))})"), rows)

    def count_by(self, column: str, where: str = "1 = 1") -> dict[Any, int]:
        """Rows per value of `column` (operators' figures: obligations by state)."""
        return {r["value"]: int(r["n"]) for r in self._fetch(
            f"SELECT {column} AS value, count(*) AS n FROM {self.table} WHERE {where} "
            f"GROUP BY {column}", [])}

    def rows(self) -> list[tuple[Any, ...]]:
        """Every row in a stable order: how a view is compared with its rebuild (RPT-4)."""
        fetched = self._fetch(f"SELECT * FROM {self.table}", [])
        return sorted((tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in fetched),
                      key=repr)

    def clear(self, tracking_name: str) -> None:
        """For a replay: empty the view and reset its position, in one transaction."""
        with self._transaction() as c:
            c.execute(f"DELETE FROM {self.table}")
            self._reset_tracking(c, tracking_name)


class SQLiteSql(SqlView):
    placeholder = "?"
    tracking_table = "tracking"  # the library's SQLite tracking table: one row per view

    def _instant(self, value: datetime) -> str:
        return sqlite_instant(value)

    def _uuid(self, value: UUID) -> str:
        return value.hex

    def _params(self, row: Any) -> Sequence[Any]:
        return [self._uuid(v) if name == "case_id" else self._instant(v)
                if name in self.instants and v is not None else v
                for name, v in zip(self.columns, super()._params(row), strict=True)]

    def _fetch_together(self, queries: Sequence[tuple[str, list[Any]]]) -> list[list[Any]]:
        results = []
        with self.datastore.transaction(commit=False) as c:  # one read transaction
            for sql, params in queries:
                c.execute(self._sql(sql), params)
                results.append(list(c.fetchall()))
        return results


class PostgresSql(SqlView):
    placeholder = "%s"
    tracking_table_name: str

    @property
    def tracking_table(self) -> str:
        return Identifier(self.datastore.schema, self.tracking_table_name).as_string()

    def _insert(self, c: Any, rows: Sequence[Sequence[Any]]) -> None:
        with c.copy(f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _fetch_together(self, queries: Sequence[tuple[str, list[Any]]]) -> list[list[Any]]:
        results = []
        snapshot = len(queries) > 1  # one statement is a snapshot of its own
        with self.datastore.get_connection() as conn, conn.cursor() as c, \
                conn.transaction() if snapshot else nullcontext():
            if snapshot:
                c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for sql, params in queries:
                c.execute(self._sql(sql), params)
                results.append(list(c.fetchall()))
        return results


def for_backend(cases: Any, sqlite_view: type[T], postgres_view: type[T]) -> T:
    """The view class for the store the application uses, on its datastore."""
    datastore = cases.factory.datastore
    view_class = sqlite_view if isinstance(datastore, SQLiteDatastore) else postgres_view
    return view_class(datastore)  # type: ignore[call-arg]
