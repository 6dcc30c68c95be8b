"""B1, where the save's time goes: the save function and variants of it with parts
removed, and the next design's floor, each called once per command by plain
psycopg with an event of a stored event's size, beside raw INSERTs in the same
rounds. Not casetrail as it runs: copies of its save function under other names.

- `full`: the save function as migrated (table lock, NOTIFY, lock timeout, the
  case-index and hold upserts with nothing to upsert, the event, the chain link).
- `no_chain`, `no_upserts`: without the chain link, without the two upserts.
- `events_only`: the same 14-parameter PL/pgSQL call inserting the event alone.
- `one_event_save`: the one-event save function (a command's save) doing what
  `full` does, the event and its link as plain values.
- `unnest_arrays`: the event inserted from four one-element arrays, no function.
- `one_event_sql_function`: a SQL function taking one event as four scalars.
- `plain_insert`: the event's row by a plain INSERT.

    .venv/bin/python -m bench.b1_save_parts      # ~2 min
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from statistics import mean
from typing import Any

import psycopg

from bench.b1_write_path import save_function_alone
from bench.common import (
    PG_URL,
    calls_per_second,
    interleaved,
    postgres_settings,
    ratio,
    raw_inserts,
    rounds_note,
)
from infrastructure.bootstrap import build_application
from infrastructure.persistence import SAVE_FUNCTION, save_function

TOPIC = "domain.service_exceptions.model:ServiceException.ReportedUp"
BODY = os.urandom(1500)
SECONDS, ROUNDS = 3.0, 5


def variants(schema: str) -> dict[str, str]:
    """The save function's SQL, and copies with parts removed."""
    events = f'"{schema}"."casetrail_events"'
    full = save_function(schema, events=events, channel="casetrail_events")
    no_chain = full[:full.index("    FOR i IN")] + full[full.index("    IF p_idem IS NOT NULL"):]
    no_upserts = "\n".join(line for line in full.splitlines()
                           if "jsonb_populate_recordset" not in line)
    events_only = "\n".join(line for line in no_chain.splitlines()
                            if "jsonb_populate_recordset" not in line
                            and "LOCK TABLE" not in line and "NOTIFY" not in line
                            and "set_config" not in line)
    return {"full": full, "no_chain": no_chain, "no_upserts": no_upserts,
            "events_only": events_only}


@contextlib.contextmanager
def connection() -> Iterator[Any]:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        yield conn


def statement_call(conn: Any, sql: str) -> Callable[[float], float]:
    def command(client: int, n: int) -> None:
        conn.execute(sql, (uuid.uuid4(), 1, TOPIC, BODY))

    return lambda seconds: calls_per_second(1, seconds, command)


def main() -> None:
    with postgres_settings() as settings, contextlib.ExitStack() as stack:
        build_application(settings).close()  # the schema, with the save function
        schema = settings.postgres_schema
        events = f'"{schema}"."casetrail_events"'
        measures: dict[str, Callable[[float], float]] = {
            "baseline": stack.enter_context(raw_inserts(settings))}
        conn = stack.enter_context(connection())
        for name, sql in variants(schema).items():
            conn.execute(sql.replace(f".{SAVE_FUNCTION}(", f".{SAVE_FUNCTION}_{name}(", 1))
            measures[name] = stack.enter_context(
                save_function_alone(settings, f"{SAVE_FUNCTION}_{name}"))
        measures["one_event_save"] = stack.enter_context(save_function_alone(settings))
        measures["unnest_arrays"] = statement_call(conn, (
            f"INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(ARRAY[%s]::uuid[], ARRAY[%s]::bigint[], ARRAY[%s]::text[], "
            "ARRAY[%s]::bytea[]) RETURNING notification_id"))
        conn = stack.enter_context(connection())
        conn.execute(f'CREATE FUNCTION "{schema}".save_one(p_id uuid, p_version bigint, '
                     "p_topic text, p_state bytea) RETURNS bigint LANGUAGE sql AS $f$ "
                     f"INSERT INTO {events} (originator_id, originator_version, topic, state) "
                     "VALUES (p_id, p_version, p_topic, p_state) RETURNING notification_id $f$")
        measures["one_event_sql_function"] = statement_call(
            conn, f'SELECT "{schema}".save_one(%s, %s, %s, %s)')
        conn = stack.enter_context(connection())
        conn.execute(f'CREATE TABLE "{schema}".plain (id uuid, version bigint, topic text, '
                     "state bytea, PRIMARY KEY (id, version))")
        measures["plain_insert"] = statement_call(
            conn, f'INSERT INTO "{schema}".plain VALUES (%s, %s, %s, %s)')
        rates = interleaved(measures, SECONDS, ROUNDS)
    print(rounds_note(ROUNDS, SECONDS))
    base = rates.pop("baseline")
    print(f"raw INSERT tx/s (baseline)   {mean(base):8.1f}")
    for name, measured in rates.items():
        print(f"{name:<28} {mean(measured):8.1f}   ratio {ratio(measured, base)}")


if __name__ == "__main__":
    main()
