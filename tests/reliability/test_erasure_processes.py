"""RET-4 across processes: a customer's data is purged by one process while another
(a running API server, which has already served the contact and so holds its key)
keeps serving; the server's next answer has no plaintext. On both stores."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from application.app import CaseApplication
from domain.actors import Role
from infrastructure.bootstrap import build_workers
from infrastructure.settings import Settings
from tests.api.test_retention import EMAIL, PERSON, PHONE, archived_general_case
from tests.api.walk import Walker
from tests.reliability.processes import env_for, free_port, serve, token_for


@pytest.fixture
def server(store_settings: Settings, cases: CaseApplication, tmp_path: Path) -> Iterator[str]:
    """`casetrail serve` on the test's store (its tables made by `cases`)."""
    port = free_port()
    process = serve(env_for(store_settings), tmp_path, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def fetch(url: str, token: str) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


@pytest.mark.rule("RET-4")
def test_ret_4_a_server_that_served_the_contact_serves_none_after_another_process_purges(
        client: TestClient, make_token: Any, clock: Any, cases: CaseApplication,
        store_settings: Settings, server: str) -> None:
    walk = Walker(client, make_token, clock)
    case = archived_general_case(walk)
    token = token_for(store_settings, "zhao", Role.DEPARTMENT_HEAD)
    url = f"{server}/v1/exceptions/{case['id']}"
    for _ in range(2):  # the second read is served with the key the server cached
        assert PHONE in fetch(url, token)

    walk.at(datetime(2029, 10, 9, 12, 0))
    assert build_workers(store_settings, cases).purge().customers == ["C-1"]

    for path in ("", "?version=1", "/history", "/export", "/document"):
        answer = fetch(url + path, token)
        for secret in (PHONE, EMAIL, PERSON):
            assert secret not in answer, path
    assert '"name":"[erased]"' in fetch(url, token).replace(" ", "")
