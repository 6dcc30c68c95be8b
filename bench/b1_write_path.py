"""B1: commands per second through the application layer on PostgreSQL (load a case,
run a command, save: events, hash chain, index row, in one transaction), divided by
raw single-row INSERT transactions per second on the same database. Target >= 0.5.
Also with 4 concurrent clients, each on its own cases.

    .venv/bin/python -m bench.b1_write_path
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.common import (
    build_application,
    calls_per_second,
    postgres_settings,
    raw_insert_rate,
    short_cases,
)
from domain.actors import Role
from domain.service_exceptions.model import ServiceException
from infrastructure.clock import SystemClock
from infrastructure.settings import Settings
from tests.factories import ctx, report_up

SECONDS = 5.0
CASES = 1500


def command_rate(settings: Settings, clients: int) -> float:
    cases = build_application(settings, SystemClock())
    ids = short_cases(cases, CASES)

    def command(client: int, n: int) -> None:
        mine = ids[client::clients]
        cases.execute(ServiceException, mine[n % len(mine)], lambda c: report_up(
            c, ctx(datetime.now(UTC)), Role.DEPARTMENT_HEAD))

    rate = calls_per_second(clients, SECONDS, command)
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
