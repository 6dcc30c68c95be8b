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

from domain.actors import Role
from infrastructure.clock import SystemClock
from infrastructure.settings import Settings
from infrastructure.tokens import TokenService

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
    if settings.witness_file is not None:
        env["CASETRAIL_WITNESS_FILE"] = str(settings.witness_file)
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
    """The command's output goes to `<cwd>/<command>.log`, never to a pipe nobody
    reads: a full pipe would block the process on its next log line."""
    with open(log_of(args, cwd), "ab") as log:
        return subprocess.Popen([CASETRAIL, *args], env=env, cwd=cwd, stdout=log,
                                stderr=subprocess.STDOUT)


def log_of(args: list[str], cwd: Path) -> Path:
    return cwd / f"{args[0]}.log"


def token_for(settings: Settings, user: str, *roles: Role,
              department: str = "after_sales") -> str:
    """A real token the test's server accepts (in the department of `open_body`)."""
    return TokenService(settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
                        SystemClock()).issue(user, list(roles), department)


def healthy(base: str) -> bool:
    try:
        return bool(http_json(f"{base}/healthz") == {"status": "ok"})
    except OSError:
        return False


def serve(env: dict[str, str], cwd: Path, port: int, *options: str) -> subprocess.Popen[bytes]:
    """`casetrail serve` on `port` (with `options`, e.g. --workers 2), once it answers
    /healthz."""
    args = ["serve", "--port", str(port), *options]
    server = start(args, env, cwd)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not healthy(base):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            output = log_of(args, cwd).read_text()[-5000:]
            raise AssertionError(f"casetrail serve did not come up:\n{output}")
        time.sleep(0.1)
    return server
