"""RET-4 across processes, as the issue reproduced it: a running API server has
served a customer's contact (so it holds the customer's key); `casetrail purge`,
another process, erases the customer; the server's next answers hold no plaintext.
On both stores. Retention is one year here, so that the purge, which runs on the
real clock, finds a case archived in October 2025 due."""

from __future__ import annotations

import dataclasses
import subprocess
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from domain.actors import Role
from domain.policy import RetentionPolicy
from infrastructure.bootstrap import build_application, init_schema
from infrastructure.clock import FrozenClock
from infrastructure.settings import Settings
from tests.api.test_retention import EMAIL, FREE_TEXT, PERSON, PHONE, archived_general_case
from tests.api.walk import Walker
from tests.reliability.processes import CASETRAIL, env_for, free_port, serve, token_for


def fetch(url: str, token: str) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


@pytest.mark.rule("RET-4")
def test_ret_4_a_server_that_served_the_contact_serves_none_after_casetrail_purge(
        store_settings: Settings, make_token: Any, tmp_path: Path) -> None:
    settings = store_settings.model_copy(update={"policy": dataclasses.replace(
        store_settings.policy, retention=RetentionPolicy(exceptions_years=1))})
    env = env_for(settings, CASETRAIL_POLICY__RETENTION__EXCEPTIONS_YEARS="1")
    clock = FrozenClock(datetime(2025, 10, 1, tzinfo=datetime.now().astimezone().tzinfo))
    init_schema(settings)
    cases = build_application(settings, clock)
    try:
        with TestClient(create_app(settings, clock, cases)) as client:
            case = archived_general_case(Walker(client, make_token, clock),
                                         day=datetime(2025, 10, 8, 9, 0))
    finally:
        cases.close()

    server = serve(env | {"CASETRAIL_EMBEDDED_WORKERS": "false"}, tmp_path, port := free_port())
    try:
        token = token_for(settings, "zhao", Role.DEPARTMENT_HEAD)
        url = f"http://127.0.0.1:{port}/v1/exceptions/{case['id']}"
        for _ in range(2):  # the second answer comes from the key the server cached
            assert PHONE in fetch(url, token)

        purged = subprocess.run([CASETRAIL, "purge"], env=env, cwd=tmp_path, timeout=120,
                                capture_output=True, text=True)
        assert purged.returncode == 0, purged.stderr
        assert "purged 1 customers" in purged.stderr
        assert "rewrapped under KEK version 2" in purged.stderr

        for path in ("", "?version=1", "/history", "/export", "/document"):
            answer = fetch(url + path, token)
            for secret in (PHONE, EMAIL, PERSON, *FREE_TEXT):
                assert secret not in answer, (path, secret)
        assert '"name":"[erased]"' in fetch(url, token).replace(" ", "")
    finally:
        server.terminate()
        server.wait(timeout=10)
