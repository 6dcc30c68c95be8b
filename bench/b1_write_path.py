"""B1: commands per second through the application layer on PostgreSQL (run a
command on a case, save: events, hash chain, index row, in one transaction),
divided by raw single-row INSERT transactions per second on the same database.

- hits: 200 cases taken in turn, which the process remembers (RecentCases): each
  command is its save alone. Target >= 0.5 with 1 client; 4 clients for scale.
- misses: 1,500 cases, more than it remembers: each command reads its case first.
  Target >= 0.2 (report).

For scale, in the same rounds: 4 clients through a copy of the save function
without the table lock (what the lock costs); the same command through the library
used naively (its own Application and recorder with their defaults: the events
only, no hash chain, case index, snapshots or sealed personal data; a load and a
pipelined save); plain psycopg reading a case's rows with one SELECT and writing
one row with one INSERT; and the save function called alone by plain psycopg, the
floor of a command on a remembered case.

    .venv/bin/python -m bench.b1_write_path
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from statistics import mean
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder
from psycopg.types.json import Jsonb

from application.audit import link_body
from bench.common import (
    PG_URL,
    build_application,
    calls_per_second,
    interleaved,
    postgres_settings,
    ratio,
    raw_inserts,
    rounds_note,
    short_cases,
)
from domain.actors import Role
from domain.service_exceptions.model import ServiceException
from infrastructure.clock import SystemClock
from infrastructure.persistence import (
    SAVE_FUNCTION,
    SAVE_ONE_FUNCTION,
    persistence_env,
    save_function,
    save_one_function,
)
from infrastructure.settings import Settings
from infrastructure.transcodings import register_all
from tests.factories import LATE, ctx, record, report_up

SECONDS = 1.0  # a round of each measure
ROUNDS = 6
CASES = 1500  # more than a process remembers: every command a miss
HITS = 200  # fewer: every command a hit


@contextlib.contextmanager
def commands(settings: Settings, clients: int, count: int = CASES,
             unlocked: bool = False) -> Iterator[Callable[[float], float]]:
    """Commands through casetrail's application, `clients` threads each on its own cases,
    taken in turn: `count` cases more than the process remembers (CASETRAIL_CASE_CACHE_SIZE)
    are all misses (each command reads its case), fewer are all hits after the first
    round (each command is its save alone). `unlocked`: through a copy of the save
    function without the table lock (see `unlocked_save`)."""
    cases = build_application(settings, SystemClock())
    if unlocked:
        unlocked_save(settings)
        statements = cases.recorder.save_statements  # type: ignore[attr-defined]
        for key, sql in statements.items():
            statements[key] = sql.replace("(%s", "_unlocked(%s", 1)
    ids = short_cases(cases, count)
    turns = itertools.count()

    def command(client: int, n: int) -> None:
        mine = ids[client::clients]
        cases.execute(ServiceException, mine[next(turns) % len(mine)], lambda c: report_up(
            c, ctx(datetime.now(UTC)), Role.DEPARTMENT_HEAD))

    yield lambda seconds: calls_per_second(clients, seconds, command)
    cases.close()


def unlocked_save(settings: Settings) -> None:
    """For scale only: the save function without `LOCK TABLE ... IN EXCLUSIVE MODE`,
    which keeps notification ids in commit order for the views' tracking. Without
    it a view could skip an event committed late with an earlier id: not a design
    casetrail could ship as it is, but the measure of what the lock costs."""
    events = f'"{settings.postgres_schema}"."casetrail_events"'
    lock = f"LOCK TABLE {events} IN EXCLUSIVE MODE;"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for function, name in (save_function, SAVE_FUNCTION), (save_one_function,
                                                                SAVE_ONE_FUNCTION):
            sql = function(settings.postgres_schema, events=events, channel="casetrail_events")
            assert lock in sql
            conn.execute(sql.replace(lock, "").replace(f".{name}(", f".{name}_unlocked(", 1))


class NaiveApplication(Application[Any]):
    name = "naive"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_all(transcoder)


@contextlib.contextmanager
def naive_commands(settings: Settings) -> Iterator[Callable[[float], float]]:
    env = {k: v for k, v in persistence_env(settings, create_tables=True).items()
           if k in ("PERSISTENCE_MODULE", "CREATE_TABLE")
           or (k.startswith("POSTGRES_") and k != "POSTGRES_PRE_PING")}
    app = NaiveApplication(env=env)
    ids = []
    for _ in range(CASES):
        case = record(ctx(datetime.now(UTC), backdating_reason=LATE),
                      discovered_at=datetime.now(UTC) - timedelta(days=1))
        app.save(case)
        ids.append(case.id)
    turns = itertools.count()

    def command(client: int, n: int) -> None:
        case = app.repository.get(ids[next(turns) % len(ids)])
        report_up(case, ctx(datetime.now(UTC)), Role.DEPARTMENT_HEAD)
        app.save(case)

    yield lambda seconds: calls_per_second(1, seconds, command)
    app.close()


@contextlib.contextmanager
def save_function_alone(settings: Settings, function: str = SAVE_ONE_FUNCTION
                        ) -> Iterator[Callable[[float], float]]:
    """The floor of a command on a remembered case: a save function called once by
    plain psycopg with its arguments ready (an event of a stored event's size, its
    link body, no index row), so no Python but the call; the function does the
    lock, the insert, the chain link and NOTIFY as for a command. `function`: the
    one-event save function (a command's), or the save function taking arrays, or a
    copy of either under another name (bench.b1_save_parts)."""
    topic = "domain.service_exceptions.model:ServiceException.ReportedUp"
    body = os.urandom(1500)
    one = function.startswith(SAVE_ONE_FUNCTION)
    statement = (f'SELECT * FROM "{settings.postgres_schema}".{function}('
                 + ", ".join(["%s"] * (10 if one else 13)) + ")")
    versions = {uuid.uuid4(): 0 for _ in range(HITS)}
    turns = itertools.cycle(list(versions))
    with psycopg.connect(PG_URL, autocommit=True) as conn:

        def command(client: int, n: int) -> None:
            case_id = next(turns)
            versions[case_id] += 1
            version = versions[case_id]
            at, link = datetime.now(UTC), link_body(case_id, version, topic, body)
            event = ([case_id, version, topic, body, at, link] if one else
                     [[case_id], [version], [topic], [body], [case_id], [version], [at],
                      [link], [True]])
            conn.execute(statement, [*event, Jsonb([]), Jsonb([]), None, "5s"]).fetchall()

        yield lambda seconds: calls_per_second(1, seconds, command)


@contextlib.contextmanager
def floor_commands(settings: Settings) -> Iterator[Callable[[float], float]]:
    table = f'"{settings.postgres_schema}".floor'
    body = os.urandom(1500)  # a stored event's size
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id uuid, version bigint, body bytea, "
                     "PRIMARY KEY (id, version))")
        ids = [uuid.uuid4() for _ in range(CASES)]
        for case_id in ids:
            conn.execute(f"INSERT INTO {table} VALUES (%s, 1, %s)", (case_id, body))
        turns = itertools.count()

        def command(client: int, n: int) -> None:
            case_id = ids[next(turns) % len(ids)]
            rows = conn.execute(f"SELECT version, body FROM {table} WHERE id = %s "
                                "ORDER BY version", (case_id,)).fetchall()
            conn.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)",
                         (case_id, rows[-1][0] + 1, body))

        yield lambda seconds: calls_per_second(1, seconds, command)


def main() -> None:
    with (postgres_settings(postgres_pool_size=8) as settings,
          raw_inserts(settings) as baseline, commands(settings, 1, HITS) as hits,
          commands(settings, 4, HITS) as hits4,
          commands(settings, 4, HITS, unlocked=True) as unlocked4, commands(settings, 1) as one,
          commands(settings, 4) as four, naive_commands(settings) as naive,
          floor_commands(settings) as floor, save_function_alone(settings) as alone):
        rates = interleaved({"baseline": baseline, "hits": hits, "hits4": hits4,
                             "unlocked4": unlocked4, "one": one, "four": four,
                             "naive": naive, "floor": floor, "alone": alone},
                            SECONDS, ROUNDS)
    print(rounds_note(ROUNDS, SECONDS))
    base = rates.pop("baseline")
    print(f"raw INSERT tx/s (baseline)     {mean(base):9.1f}   [{min(base):.0f}, {max(base):.0f}]")
    for name, label, note in (("hits", "commands/s, 1 client, hits", " (target >= 0.5)"),
                              ("hits4", "commands/s, 4 clients, hits", ""),
                              ("unlocked4", "same, no table lock (scale)", ""),
                              ("one", "commands/s, 1 client, misses", " (target >= 0.2)"),
                              ("four", "commands/s, 4 clients, misses", ""),
                              ("naive", "the library naively, 1 client", ""),
                              ("floor", "floor: SELECT + INSERT, psycopg", ""),
                              ("alone", "floor of a hit: the save call", "")):
        print(f"{label:<31} {mean(rates[name]):8.1f}   ratio {ratio(rates[name], base)}{note}")


if __name__ == "__main__":
    main()
