"""R4: PostgreSQL goes away mid-load and comes back. While it is away requests fail
fast with 503 problem details (never a hang, never a 500); when it is back the
same server recovers without a restart; nothing acknowledged is lost, and a
command repeated with its Idempotency-Key after a 503 is applied exactly once.

"Away" is a TCP proxy between casetrail and the machine's PostgreSQL that resets
every connection and refuses new ones, which is what a stopped server looks like
from casetrail's side, without stopping a PostgreSQL other work shares."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from application.app import CaseApplication
from domain.actors import Role
from domain.service_exceptions.model import ServiceException
from infrastructure.bootstrap import build_application, init_schema
from infrastructure.settings import Settings
from tests.factories import open_body
from tests.reliability.processes import env_for, free_port, serve, token_for
from tests.reliability.tcp_proxy import TcpProxy

CLIENTS = 4
CONNECT_TIMEOUT = 2  # seconds: bounds the one request that discovers the outage
RECOVERY = 3.0  # seconds after PostgreSQL is back by which no request may get a 503


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("store_settings", ["postgres"], indirect=True)
def test_r4_postgres_outage_fails_fast_recovers_and_loses_nothing(
        store_settings: Settings, tmp_path: Path) -> None:
    init_schema(store_settings)
    url = store_settings.database_url.get_secret_value()  # type: ignore[union-attr]
    target = psycopg.conninfo.conninfo_to_dict(url)
    proxy = TcpProxy(str(target.get("host") or "127.0.0.1"), int(target.get("port") or 5432))
    proxy.start()
    proxied = psycopg.conninfo.make_conninfo(url, host="127.0.0.1", port=proxy.port)
    env = env_for(store_settings, CASETRAIL_DATABASE_URL=proxied,
                  CASETRAIL_POSTGRES_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
                  CASETRAIL_EMBEDDED_WORKERS="false")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token_for(store_settings, 'li.wei', Role.FRONTLINE)}"}
    acknowledged: dict[str, str] = {}  # Idempotency-Key -> case id
    during_outage: list[tuple[float, httpx.Response]] = []
    unexpected: list[str] = []
    outage = threading.Event()
    stop = threading.Event()
    restored = [0.0]

    def client(n: int) -> None:
        """Each command is repeated with its Idempotency-Key until it is acknowledged,
        as a client that reads the 503's advice does."""
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            sent = 0
            while not stop.is_set():
                sent += 1
                key = f"client-{n}-{sent}"
                at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
                while not stop.is_set():
                    was_out = outage.is_set()
                    started = time.monotonic()
                    response = http.post("/v1/exceptions", headers={"Idempotency-Key": key},
                                         json=open_body(title=key, discovered_at=at))
                    took = time.monotonic() - started
                    if response.status_code == 201:
                        acknowledged[key] = response.json()["id"]
                        break
                    if response.status_code != 503:
                        unexpected.append(f"{response.status_code} {response.text[:200]}")
                        break
                    if was_out and outage.is_set():
                        during_outage.append((took, response))
                    elif not (was_out or outage.is_set()) and started > restored[0] + RECOVERY:
                        unexpected.append(f"503 after recovery: {response.text[:200]}")
                    time.sleep(0.05)

    server = serve(env, tmp_path, port)
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        before = len(acknowledged)
        outage.set()
        proxy.cut()
        time.sleep(6)
        proxy.start()  # PostgreSQL is back, on the same address
        restored[0] = time.monotonic()
        outage.clear()
        recovered_by = time.monotonic() + 30
        while len(acknowledged) < before + 20 and time.monotonic() < recovered_by:
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join(90)
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/readyz").status_code == 200
    finally:
        stop.set()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        proxy.cut()

    assert not unexpected, unexpected[:5]
    assert before > 5, "the server was under load before the outage"
    assert len(acknowledged) >= before + 20, "the same server recovered once PostgreSQL was back"
    assert len(during_outage) > 10, "requests during the outage were answered, not hung"
    for _, response in during_outage:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("store-unavailable")
        assert "retry-after" in response.headers
    slowest = max(took for took, _ in during_outage)
    assert slowest < 2 * CONNECT_TIMEOUT + 2, f"an outage answer took {slowest:.1f} s"
    cases = build_application(store_settings)
    try:
        for key, case_id in acknowledged.items():
            assert cases.get_case(ServiceException, UUID(case_id)).title == key
        titles = Counter(event.title for event in _recorded(cases))
    finally:
        cases.close()
    assert max(titles.values()) == 1, "a repeated command was applied twice"
    # Besides the acknowledged ones, at most the commands cut off when the load stopped.
    assert set(acknowledged) <= set(titles) and len(titles) <= len(acknowledged) + CLIENTS


def _recorded(cases: CaseApplication) -> list[Any]:
    notifications = cases.recorder.select_notifications(start=1, limit=1_000_000)
    events = [cases.mapper.to_domain_event(n) for n in notifications]
    return [e for e in events if type(e).__name__ == "Recorded"]
