"""Shared set-up for the benchmarks: a fresh PostgreSQL schema (or SQLite file) with
the casetrail schema, and a timer. Benchmarks print ratios against a baseline
measured in the same run; they are never run as tests."""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import psycopg

from infrastructure.bootstrap import build_application, init_schema
from infrastructure.settings import Settings
from tests.factories import LATE, ctx, record

PG_URL = os.environ.get("CASETRAIL_BENCH_DATABASE_URL",
                        "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def postgres_settings(**overrides: object) -> Iterator[Settings]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    tmp = Path(tempfile.mkdtemp())
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        settings = Settings(database_url=PG_URL, postgres_schema=schema,
                            secret_key="bench-" + "x" * 40, signing_key_file=tmp / "s",
                            master_key_file=tmp / "m", secret_key_file=tmp / "k",
                            witness_file=tmp / "witness.jsonl", **overrides)  # type: ignore[arg-type]
        init_schema(settings)
        yield settings
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.contextmanager
def raw_inserts(settings: Settings) -> Iterator[Callable[[float], float]]:
    """The baseline: single-row INSERT transactions, autocommit, psycopg. Yields a
    function that runs them for so many seconds and returns the transactions/s."""
    table = f'"{settings.postgres_schema}".raw'
    body, numbers = os.urandom(300), itertools.count()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (n bigint, body bytea)")

        def rate(seconds: float) -> float:
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (next(numbers), body))
                count += 1
            return count / (time.perf_counter() - started)

        yield rate


def interleaved(measures: dict[str, Callable[[float], float]], seconds: float,
                rounds: int) -> dict[str, list[float]]:
    """Each measure run `rounds` times for `seconds`, taking turns, so that all see the
    same machine: this one's WAL flush time drifts twofold within minutes, which a
    baseline measured once, before the rest, turns into a twofold error in a ratio.
    Returns each measure's rate in each round."""
    rates: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            rates[name].append(measure(seconds))
    return rates


def rounds_note(rounds: int, seconds: float) -> str:
    return (f"{rounds} rounds of {seconds:.0f} s each, taking turns; mean rate, and the "
            "ratio's mean [lowest, highest round]")


def ratio(measured: list[float], baseline: list[float]) -> str:
    """The ratio of two measures taken in the same rounds: mean [lowest, highest]."""
    ratios = [m / b for m, b in zip(measured, baseline, strict=True)]
    return f"{mean(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]"


def short_cases(cases: Any, count: int) -> list[uuid.UUID]:
    """Realistic cases are short (tens of events): commands are spread over many.
    General exceptions found a day ago, so any instant today is a valid report."""
    ids = []
    for _ in range(count):
        now = datetime.now(UTC)
        case = record(ctx(now, backdating_reason=LATE), discovered_at=now - timedelta(days=1))
        cases.save_case(case)
        ids.append(case.id)
    return ids


def long_case(cases: Any, clock: Any, events: int, batch: int = 100) -> Any:
    """One general exception reported up until it has `events` events, saved a
    transaction a batch (the application snapshots as configured), 30 s apart."""
    from domain.actors import Role
    from tests.factories import report_up

    case = record(ctx(clock.now()), discovered_at=clock.now())
    cases.save_case(case)
    while case.version < events:
        for _ in range(min(batch, events - case.version)):
            clock.advance(timedelta(seconds=30))
            report_up(case, ctx(clock.now()), Role.DEPARTMENT_HEAD)
        cases.save_case(case)
    return case


def fill(settings: Settings, events: int, per_case: int = 100) -> list[str]:
    """`events` events in cases of `per_case` events, a case a transaction."""
    from domain.actors import Role
    from infrastructure.clock import FrozenClock
    from tests.factories import report_up

    clock = FrozenClock(datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    cases = build_application(settings, clock)
    ids = []
    for _ in range(events // per_case):
        case = record(ctx(clock.now()), discovered_at=clock.now() - timedelta(minutes=5))
        for _ in range(per_case - 1):
            clock.advance(timedelta(seconds=1))
            report_up(case, ctx(clock.now()), Role.DEPARTMENT_HEAD)
        cases.save_case(case)
        ids.append(str(case.id))
    cases.close()
    analyze(settings)
    return ids


def analyze(settings: Settings) -> None:
    """Planner statistics for the filled tables, as autovacuum keeps them in
    production. This machine's server runs with autovacuum off: without them a
    bulk-filled store is planned as if empty (B6's checkpoint over 1,000,000 events
    ran for minutes on a join planned for no rows)."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'ANALYZE "{settings.postgres_schema}".casetrail_events, '
                     f'"{settings.postgres_schema}".casetrail_chain, '
                     f'"{settings.postgres_schema}".casetrail_cases')


def best_of(rounds: int, run: Callable[[], Any]) -> float:
    """The fastest of `rounds` runs, in seconds: the least disturbed by the machine."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def calls_per_second(clients: int, seconds: float, call: Callable[[int, int], None]) -> float:
    """`clients` threads, each calling `call(client, n)` with n = 0, 1, ... until
    `seconds` have passed; returns the calls per second of them all."""
    counts = [0] * clients
    stop = time.perf_counter() + seconds

    def client(c: int) -> None:
        while time.perf_counter() < stop:
            call(c, counts[c])
            counts[c] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - started)


__all__ = ["best_of", "build_application", "calls_per_second", "fill", "interleaved", "long_case",
           "postgres_settings", "ratio", "raw_inserts", "rounds_note", "short_cases"]
