"""B2: the HTTP layer. One `uvicorn` server process on PostgreSQL; load from another
process on loopback (4 connections, time-bounded).

- commands/s through the API (POST a report up, with If-Match-free optimistic
  saves) divided by B1's commands/s with 4 clients. Target >= 0.5.
- the same commands through `casetrail serve --workers 2` (two server processes),
  divided by the same B1 rate. Target >= 0.6.
- GET case requests/s divided by GETs of a bare FastAPI endpoint that returns a
  constant, mounted in the same server. Target >= 0.5.

Each pair is measured in interleaved rounds (see `bench.common.interleaved`).

    .venv/bin/python -m bench.b2_http
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import signal
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import httpx

from bench.b1_write_path import commands
from bench.common import (
    build_application,
    calls_per_second,
    interleaved,
    postgres_settings,
    ratio,
    rounds_note,
    short_cases,
)
from domain.actors import Role
from infrastructure.clock import SystemClock
from infrastructure.heap import settle
from infrastructure.settings import Settings
from infrastructure.tokens import TokenService
from tests.factories import report_body
from tests.reliability.processes import env_for
from tests.reliability.processes import serve as serve_processes

SECONDS = 2.0  # a round of each measure
ROUNDS = 4
CLIENTS = 4
CASES = 1500
PORT = 8765
PORT_WORKERS = 8766  # casetrail serve --workers 2


def serve(settings: Settings) -> None:
    import uvicorn

    from api.app import create_app

    app = create_app(settings)

    @app.get("/bench/constant", include_in_schema=False)
    def constant() -> dict[str, bool]:
        return {"ok": True}

    settle(settings.gc_threshold)  # as `casetrail serve` runs
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", access_log=False)


def load(kind: str, token: str, ids: list[str], seconds: float, results: Any,
         port: int) -> None:
    """Runs in its own process: CLIENTS keep-alive connections for `seconds`; puts
    requests/s. The standard library's client: the load shares the machine's two
    cores with the server and PostgreSQL, and httpx cost 1.1 ms of CPU a request
    against 0.24 ms for `http.client` (measured in this process)."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                   for _ in range(CLIENTS)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def request(client: int, n: int) -> None:
        connection, mine = connections[client], ids[client::CLIENTS]
        case_id = mine[n % len(mine)]
        if kind == "command":
            at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
            body = json.dumps(report_body(reported_to=["department_head"], reported_at=at))
            connection.request("POST", f"/v1/exceptions/{case_id}/reports", body, headers)
        elif kind == "get":
            connection.request("GET", f"/v1/exceptions/{case_id}", headers=headers)
        else:
            connection.request("GET", "/bench/constant", headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"{kind}: HTTP {response.status}")

    results.put(calls_per_second(CLIENTS, seconds, request))
    for connection in connections:
        connection.close()


def rate(kind: str, token: str, ids: list[str], seconds: float, port: int = PORT) -> float:
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    process = spawn.Process(target=load, args=(kind, token, ids, seconds, results, port))
    process.start()
    value = float(results.get(timeout=seconds * 10 + 30))
    process.join()
    return value


def main() -> None:
    with (postgres_settings(postgres_pool_size=8, log_level="WARNING") as settings,
          commands(settings, CLIENTS) as direct):
        cases = build_application(settings, SystemClock())
        ids = [str(case_id) for case_id in short_cases(cases, CASES)]
        cases.close()
        token = TokenService(settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
                             SystemClock()).issue("bench", [Role.FRONTLINE], "after_sales")
        server = multiprocessing.get_context("spawn").Process(target=serve, args=(settings,))
        server.start()
        workdir = Path(tempfile.mkdtemp())
        two = serve_processes(env_for(settings, CASETRAIL_LOG_LEVEL="WARNING",
                                      CASETRAIL_EMBEDDED_WORKERS="false"), workdir,
                              PORT_WORKERS, "--workers", "2")
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{PORT}/healthz").raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            writes = interleaved({
                "direct": direct,
                "http": lambda seconds: rate("command", token, ids, seconds),
                "workers": lambda seconds: rate("command", token, ids, seconds, PORT_WORKERS),
            }, SECONDS, ROUNDS)
            reads = interleaved({kind: lambda seconds, kind=kind: rate(kind, token, ids, seconds)
                                 for kind in ("constant", "get")}, SECONDS, ROUNDS)
        finally:
            server.terminate()
            server.join(10)
            two.send_signal(signal.SIGTERM)
            two.wait(30)
    print(rounds_note(ROUNDS, SECONDS))
    for label, rates, baseline, measured, target in (
            ("HTTP commands/s vs B1, 4 clients", writes, "direct", "http", 0.5),
            ("same, serve --workers 2", writes, "direct", "workers", 0.6),
            ("GET case vs a constant endpoint", reads, "constant", "get", 0.5)):
        print(f"{label:<34} {mean(rates[measured]):7.1f} / {mean(rates[baseline]):7.1f}   "
              f"ratio {ratio(rates[measured], rates[baseline])} (target >= {target})")


if __name__ == "__main__":
    main()
