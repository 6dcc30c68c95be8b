"""The README promise, as a process: `casetrail db upgrade` then `casetrail serve` in an
empty directory serves /healthz on the embedded SQLite default, and a token from
`casetrail token` is accepted by that server."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import open_body
from tests.reliability.processes import CASETRAIL, free_port, serve


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CASETRAIL_")}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    env = clean_env()
    subprocess.run([CASETRAIL, "db", "upgrade"], cwd=tmp_path, env=env, check=True, timeout=60)
    port = free_port()
    server = serve(env, tmp_path, port)
    try:
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_on_the_embedded_default_from_an_empty_directory(served: tuple[str, Path]) -> None:
    base, workdir = served
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        assert json.load(response) == {"status": "ok"}
    with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
        assert json.load(response)["store"] == "sqlite"
    assert (workdir / "var" / "casetrail.sqlite3").is_file()


def test_a_cli_token_is_accepted_by_the_server(served: tuple[str, Path]) -> None:
    base, workdir = served
    token = subprocess.run(
        [CASETRAIL, "token", "--user", "li.wei", "--role", "frontline", "--role", "cs_head",
         "--department", "after_sales", "--ttl", "30m"],
        cwd=workdir, env=clean_env(), check=True, capture_output=True, text=True,
        timeout=60).stdout.strip()
    request = urllib.request.Request(
        f"{base}/v1/exceptions", data=json.dumps(open_body(
            discovered_at="2026-01-05T09:00:00+08:00",
            backdating_reason="entered from the paper log")).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        assert json.load(response)["reporter"] == "li.wei"


def test_serve_refuses_to_start_without_db_upgrade(tmp_path: Path) -> None:
    result = subprocess.run([CASETRAIL, "serve", "--port", str(free_port())], cwd=tmp_path,
                            env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "casetrail db upgrade" in result.stderr


def test_token_ttl_must_be_a_duration(tmp_path: Path) -> None:
    result = subprocess.run([CASETRAIL, "token", "--user", "u", "--role", "frontline",
                             "--ttl", "forever"], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "30m, 8h or 7d" in result.stderr


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


@pytest.mark.rule("SEC-IN-2")
def test_sec_in_2_a_400_mb_body_without_a_token_costs_the_server_no_memory(
        tmp_path: Path) -> None:
    """Declared 400 MB, 32 MB actually sent while the answer is awaited: the 401 comes
    before the body is read, and the server's memory does not follow the body."""
    import socket

    env = clean_env()
    subprocess.run([CASETRAIL, "db", "upgrade"], cwd=tmp_path, env=env, check=True, timeout=60)
    port = free_port()
    server = serve(env, tmp_path, port)
    try:
        before = _rss_kib(server.pid)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"POST /v1/exceptions HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: 419430400\r\n\r\n")
            chunk = b"x" * (1024 * 1024)
            answer = b""
            try:
                for _ in range(32):
                    conn.sendall(chunk)
            except OSError:
                pass  # the server may close the connection once it has answered
            conn.settimeout(10)
            while b"\r\n\r\n" not in answer:
                data = conn.recv(65536)
                if not data:
                    break
                answer += data
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert _rss_kib(server.pid) - before < 16 * 1024  # well under the 32 MB sent
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_misspelt_setting_stops_the_command_with_the_name_it_meant(tmp_path: Path) -> None:
    """CASETRAIL_DATABSE_URL used to be ignored, and the service ran on SQLite."""
    env = clean_env() | {"CASETRAIL_DATABSE_URL": "postgresql://db/cases"}
    done = subprocess.run([CASETRAIL, "token", "--user", "u", "--role", "frontline"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "did you mean CASETRAIL_DATABASE_URL?" in done.stderr


def test_the_cli_tells_its_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = subprocess.run([CASETRAIL, "--version"], cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, f"casetrail {version('casetrail')}")


@pytest.mark.parametrize(("args", "says"), [
    (["token", "--user", "", "--role", "frontline"], "error: user must not be empty"),
    (["import", "customers", "missing.csv"], "cannot read missing.csv: No such file"),
    (["export", "3c296bd7-d0e0-4453-a751-d2ed71fb8670"], "error: no case"),
    (["verify", "not-a-uuid"], "is not a case id"),
    (["replay", "not-a-uuid"], "'not-a-uuid' is not a case id"),
    (["replay", "3c296bd7-d0e0-4453-a751-d2ed71fb8670", "--as-of", "yesterday"],
     "--as-of 'yesterday': give an ISO instant with its offset"),
])
def test_a_user_s_mistake_is_one_line_and_exit_2_never_a_traceback(
        tmp_path: Path, args: list[str], says: str) -> None:
    subprocess.run([CASETRAIL, "db", "upgrade"], cwd=tmp_path, env=clean_env(), check=True,
                   capture_output=True, timeout=60)
    done = subprocess.run([CASETRAIL, *args], cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_config_show_prints_the_settings_with_secrets_masked(tmp_path: Path) -> None:
    secret = "s" * 40
    env = clean_env() | {"CASETRAIL_SECRET_KEY": secret, "CASETRAIL_HOME": "data"}
    done = subprocess.run([CASETRAIL, "config", "show"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert secret not in done.stdout and shown["secret_key"] == "**********"
    assert shown["home"] == str(tmp_path.resolve() / "data")
    assert shown["sqlite_path"] == str(tmp_path.resolve() / "data" / "casetrail.sqlite3")
