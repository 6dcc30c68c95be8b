"""The case library (EX-LIB-1, 002 art. 15(1)): archived exceptions, searchable by
category, service step and full text over root cause, lessons and measures, shared
across departments for training. A view fed from the log like the others, with
tracking, so `casetrail rebuild library` replays it (RPT-4).

No personal data: an entry keeps no customer, contact, title, description, case
people or free text other than the root cause, lessons and measures, and those
have the case's customer name and id and its contact's name, phone and email
replaced by placeholders, as is anything shaped like a phone number or an e-mail
address. A case whose personal data is erased (RET-3/RET-4) leaves the library.

Full text: SQLite's FTS5 with the trigram tokenizer, and PostgreSQL's pg_trgm
trigram index under ILIKE; both find any substring of three characters or more in
any script, Chinese included, without a word segmenter. Shorter terms are matched
by a scan. Every term must match; results are newest first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier

from application.app import CaseApplication
from domain.cases import Case
from domain.personal import ERASED
from domain.service_exceptions.model import ServiceException
from projections.runtime import CaseProjection, Folded
from projections.sql import PostgresSql, SQLiteSql, SqlView, for_backend

TABLE = "casetrail_library"
FTS = f"{TABLE}_fts"
_PHONE = re.compile(r"\+?\d[\d\s()\-]{6,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


@dataclass(frozen=True)
class LibraryEntry:
    case_id: UUID
    category: str
    level: str
    service_step: str
    special: str
    archived_at: datetime
    root_cause: str
    lessons: str
    measures: str
    """One measure or improvement per line."""

    @property
    def body(self) -> str:
        """What the full-text search reads."""
        return "\n".join((self.root_cause, self.lessons, self.measures))


def redact(text: str, case: ServiceException) -> str:
    """The case's customer and contact by placeholders, then any phone number or
    e-mail address."""
    contact = case.customer.contact
    for value, placeholder in ((contact.email, "[email]"), (contact.phone, "[phone]"),
                               (contact.name, "[contact]"), (case.customer.name, "[customer]"),
                               (case.customer.id, "[customer]")):
        if value and value.strip():
            text = text.replace(value, placeholder)
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def entry_of(case: Case | None) -> LibraryEntry | None:
    """The library entry of an archived exception whose personal data stands."""
    if not isinstance(case, ServiceException) or case.archived_at is None \
            or case.erased_at is not None:
        return None
    texts = [case.investigation.root_cause if case.investigation else ""]
    review = case.review[0] if case.review else None
    if review is not None:
        texts = [review.root_cause, *texts]
    plan = case.plan_in_force
    measures = [f"{m.description} ({m.responsible_department}, {m.kind.value})"
                for m in (plan.measures if plan else ())]
    measures += [f"{i.description} (improvement)" for i in (review.improvements if review
                                                             else ())]
    if ERASED in (*texts, *measures, review.lessons if review else ""):
        return None
    return LibraryEntry(
        case_id=case.id, category=case.category.value, level=case.level.value,
        service_step=case.service_step,
        special=",".join(sorted(s.value for s in case.special)),
        archived_at=case.archived_at,
        root_cause=redact("\n".join(dict.fromkeys(t for t in texts if t)), case),
        lessons=redact(review.lessons if review else "", case),
        measures=redact("\n".join(measures), case))


COLUMNS = tuple(f.name for f in fields(LibraryEntry))


class LibraryView(SqlView):
    columns = (*COLUMNS, "body")
    instants = frozenset({"archived_at"})

    def apply(self, changes: Sequence[tuple[UUID, LibraryEntry | None]],
              tracking: Tracking) -> None:
        with self._transaction() as c:
            self._replace(c, [case_id for case_id, _ in changes],
                          [self._params(e) for _, e in changes if e is not None])
            self._insert_tracking(c, tracking)  # type: ignore[attr-defined]

    def search(self, q: str = "", category: str | None = None,
               service_step: str | None = None, limit: int = 50) -> list[LibraryEntry]:
        where, params = ["1 = 1"], []
        for name, value in (("category", category), ("service_step", service_step)):
            if value is not None:
                where.append(f"l.{name} = {{p}}")
                params.append(value)
        join, matched = self._text(q.split())
        rows = self._fetch(f"SELECT l.* FROM {self.table} l {join[0]} WHERE "
                           f"{' AND '.join(where + matched[0])} "
                           "ORDER BY l.archived_at DESC, l.case_id LIMIT {p}",
                           [*join[1], *params, *matched[1], limit])
        return [self._entry(r) for r in rows]

    def _text(self, terms: list[str]) -> tuple[tuple[str, list[Any]], tuple[list[str], list[Any]]]:
        """The join and conditions that make every term match (backend-specific)."""
        raise NotImplementedError

    def _entry(self, row: Any) -> LibraryEntry:
        values = {name: row[name] for name in COLUMNS}
        values["case_id"] = UUID(str(values["case_id"]))
        values["archived_at"] = self._read_instant(values["archived_at"])
        return LibraryEntry(**values)


class SQLiteLibraryView(LibraryView, SQLiteSql, SQLiteTrackingRecorder):
    table = TABLE

    def construct_create_table_statements(self) -> list[str]:
        cols = ", ".join(f"{c} TEXT" for c in self.columns)
        return [*super().construct_create_table_statements(),
                f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols}, PRIMARY KEY (case_id))",
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(case_id UNINDEXED, "
                "body, tokenize = 'trigram')"]

    def _replace(self, c: Any, case_ids: Sequence[UUID], rows: Sequence[Sequence[Any]]) -> None:
        super()._replace(c, case_ids, rows)
        ids = [self._uuid(i) for i in case_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            c.execute(f"DELETE FROM {FTS} WHERE case_id IN ({', '.join('?' * len(chunk))})",
                      chunk)
        c.executemany(f"INSERT INTO {FTS} (case_id, body) VALUES (?, ?)",
                      [(r[0], r[-1]) for r in rows])

    def clear(self, tracking_name: str) -> None:
        """The rows, their full-text index and the position, in one transaction."""
        with self._transaction() as c:
            c.execute(f"DELETE FROM {FTS}")
            c.execute(f"DELETE FROM {self.table}")
            self._reset_tracking(c, tracking_name)

    def _text(self, terms: list[str]) -> tuple[tuple[str, list[Any]], tuple[list[str], list[Any]]]:
        long = [t for t in terms if len(t) >= 3]
        short = [t for t in terms if len(t) < 3]
        join: tuple[str, list[Any]] = ("", [])
        if long:  # an FTS5 string per term, every one required
            join = (f"JOIN {FTS} f ON f.case_id = l.case_id AND f.body MATCH ?",
                    [" AND ".join('"' + t.replace('"', '""') + '"' for t in long)])
        return join, (["instr(lower(l.body), lower(?)) > 0"] * len(short), short)


class PostgresLibraryView(LibraryView, PostgresSql, PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=f"{TABLE}_tracking", **kwargs)
        self.table = Identifier(self.datastore.schema, TABLE).as_string()
        types = {"case_id": "uuid", "archived_at": "timestamptz"}
        cols = ", ".join(f"{c} {types.get(c, 'text')}" for c in self.columns)
        # pg_trgm lives in public, so dropping a schema never drops it for the others.
        self.sql_create_statements += [SQL(s) for s in (  # type: ignore[arg-type]
            "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public",
            f"CREATE TABLE IF NOT EXISTS {self.table} ({cols}, PRIMARY KEY (case_id))",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_trgm ON {self.table} "
            "USING gin (body public.gin_trgm_ops)")]

    def _text(self, terms: list[str]) -> tuple[tuple[str, list[Any]], tuple[list[str], list[Any]]]:
        escaped = ["%" + re.sub(r"([\\%_])", r"\\\1", t) + "%" for t in terms]
        return ("", []), (["l.body ILIKE {p}"] * len(terms), escaped)


def construct_library_view(cases: CaseApplication) -> LibraryView:
    return for_backend(cases, SQLiteLibraryView, PostgresLibraryView)


class LibraryProjection(CaseProjection):
    name = "library"
    view: LibraryView

    def process_cases(self, folded: Folded, tracking: Tracking) -> None:
        self.view.apply([(event.originator_id, entry_of(case)) for event, case in folded],
                        tracking)
