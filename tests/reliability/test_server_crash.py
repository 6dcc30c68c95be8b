"""R3: kill -9 of the API server under load. Every command the server acknowledged
with a 2xx is in the store after a restart: a new case, or a report up at the
version its ETag named. Requests cut off by the kill may or may not have landed;
none may land twice or half."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from domain.actors import Role
from infrastructure.settings import Settings
from tests.factories import open_body, report_body
from tests.reliability.processes import env_for, free_port, serve, token_for

CLIENTS = 6
LOAD_SECONDS = 2.0


@pytest.mark.slow
@pytest.mark.rule("AUD-1")
def test_r3_kill_9_of_the_server_under_load_loses_no_acknowledged_command(
        cases: object, store_settings: Settings, tmp_path: Path) -> None:
    env = env_for(store_settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = token_for(store_settings, "li.wei", Role.FRONTLINE, Role.DEPARTMENT_HEAD)
    headers = {"Authorization": f"Bearer {token}"}
    acknowledged: list[tuple[str, int, str]] = []  # (case id, version, marker)
    cut_off = [0]
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            sent = 0
            while not stop.is_set():
                sent += 1
                marker = f"client {n} request {sent}"
                at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
                try:
                    created = http.post("/v1/exceptions", json=open_body(
                        title=marker, discovered_at=at))
                    if created.status_code != 201:
                        raise AssertionError(created.text)
                    case_id = created.json()["id"]
                    acknowledged.append((case_id, 1, marker))
                    sent += 1
                    marker = f"client {n} request {sent}"
                    reported = http.post(f"/v1/exceptions/{case_id}/reports",
                                         headers={"If-Match": created.headers["etag"]},
                                         json=report_body(details=marker, reported_at=at))
                    if reported.status_code != 200:
                        raise AssertionError(reported.text)
                    acknowledged.append((case_id, int(reported.headers["etag"].strip('"')),
                                         marker))
                except httpx.TransportError:
                    cut_off[0] += 1  # the server died with this request in flight
                    return

    server = serve(env, tmp_path, port)
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(LOAD_SECONDS)
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) > 20, "the server was under load when it died"
    assert cut_off[0] > 0, "the kill came mid-request"

    server = serve(env, tmp_path, port)  # a restart on the same store
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            for case_id, version, marker in acknowledged:
                history = http.get(f"/v1/exceptions/{case_id}/history")
                assert history.status_code == 200, (marker, history.text)
                events = {e["version"]: e for e in history.json()["items"]}
                assert version in events, f"{marker} was acknowledged but is lost"
                data = events[version]["data"]
                assert marker in str(data), (marker, data)
                assert http.get(f"/v1/exceptions/{case_id}/verify").json()["ok"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
