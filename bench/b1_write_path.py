"""B1: commands per second through the application layer on PostgreSQL (load a case,
run a command, save: events, hash chain, index row, in one transaction), divided by
raw single-row INSERT transactions per second on the same database. Target >= 0.5.
Also with 4 concurrent clients, each on its own cases.

    .venv/bin/python -m bench.b1_write_path
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from bench.common import build_application, postgres_settings, raw_insert_rate
from domain.actors import Role
from domain.service_exceptions.model import ServiceException
from infrastructure.clock import SystemClock
from tests.factories import ctx, record, report_up

SECONDS = 5.0
CASES = 1500


def command_rate(settings, clients: int) -> float:  # type: ignore[no-untyped-def]
    cases = build_application(settings, SystemClock())
    ids = []
    # Realistic cases are short (tens of events): spread the commands over many.
    for _ in range(CASES):
        case = record(ctx(datetime.now(UTC)), discovered_at=datetime.now(UTC) - timedelta(1))
        cases.save_case(case)
        ids.append(case.id)
    counts = [0] * clients
    stop = time.perf_counter() + SECONDS

    def client(n: int) -> None:
        mine = ids[n::clients]
        while time.perf_counter() < stop:
            case_id = mine[counts[n] % len(mine)]
            cases.execute(ServiceException, case_id, lambda c: report_up(
                c, ctx(datetime.now(UTC)), Role.DEPARTMENT_HEAD))
            counts[n] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = sum(counts) / (time.perf_counter() - started)
    cases.close()
    return rate


def main() -> None:
    with postgres_settings(postgres_pool_size=8) as settings:
        baseline = raw_insert_rate(settings)
        one = command_rate(settings, 1)
        four = command_rate(settings, 4)
    print(f"raw INSERT tx/s (baseline)     {baseline:9.1f}")
    print(f"commands/s, 1 client           {one:9.1f}   ratio {one / baseline:.2f} (target >= 0.5)")
    print(f"commands/s, 4 clients          {four:9.1f}   ratio {four / baseline:.2f}")


if __name__ == "__main__":
    main()
