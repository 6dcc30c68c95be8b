"""Running `casetrail` commands as real processes against a test's store."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from infrastructure.settings import Settings

CASETRAIL = shutil.which("casetrail", path=str(Path(sys.executable).parent)) or "casetrail"


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """The process environment that makes `casetrail` use the test's store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASETRAIL_")}
    if settings.database_url:
        env["CASETRAIL_DATABASE_URL"] = settings.database_url.get_secret_value()
        env["CASETRAIL_POSTGRES_SCHEMA"] = settings.postgres_schema
    else:
        env["CASETRAIL_SQLITE_PATH"] = str(settings.sqlite_path)
    if settings.secret_key:
        env["CASETRAIL_SECRET_KEY"] = settings.secret_key.get_secret_value()
    env["CASETRAIL_SIGNING_KEY_FILE"] = str(settings.signing_key_file)
    env["CASETRAIL_MASTER_KEY_FILE"] = str(settings.master_key_file)
    return env | extra


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def http_json(url: str, token: str | None = None, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers, method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([CASETRAIL, *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
