"""The container's recipe without Docker (no daemon here): the wheel `Dockerfile`
builds, installed apart from the source tree, driven through `deploy/entrypoint.sh`
with the environment and commands `compose.yaml` gives each service, against
PostgreSQL: `upgrade`, then `worker` and `serve` sharing the keys of one `.env`."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.error
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from infrastructure.migrations import head
from infrastructure.settings import Settings
from tests.factories import open_body
from tests.reliability.processes import free_port, http_json, wait_for

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def dot_env() -> dict[str, str]:
    """The `.env` README's "Container" section makes."""
    return {"POSTGRES_PASSWORD": secrets.token_urlsafe(16),
            "CASETRAIL_SECRET_KEY": secrets.token_urlsafe(48),
            "CASETRAIL_SIGNING_KEY": secrets.token_hex(32),
            "CASETRAIL_MASTER_KEY": secrets.token_hex(32)}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:?message}` and `${NAME:-default}`."""
    def one(found: re.Match[str]) -> str:
        name, _, default = found.group(1).partition(":-")
        name, required, message = name.partition(":?")
        if variables.get(name):
            return variables[name]
        if required:
            raise AssertionError(f"compose would stop: {name}: {message}")
        return default

    return re.sub(r"\$\{([^}]+)\}", one, value)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`casetrail` as the image has it: the wheel, not the source tree, on the path."""
    where = tmp_path_factory.mktemp("image")
    source, wheels, site = where / "src", where / "wheels", where / "site"
    source.mkdir()
    wheel_stage = (ROOT / "Dockerfile").read_text().split("\nFROM ")[1]
    for line in wheel_stage.splitlines():  # exactly what the wheel stage copies
        if line.startswith("COPY "):
            *names, _ = line.split()[1:]
            for name in names:
                if (ROOT / name).is_dir():
                    shutil.copytree(ROOT / name, source / name,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(wheels), str(source)], check=True, timeout=300)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(site), *map(str, wheels.glob("*.whl"))],
                   check=True, timeout=300)
    bin_dir = where / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "casetrail"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; "
                    f'sys.path.insert(0, "{site}"); import api.cli; '
                    "assert api.cli.__file__.startswith(sys.path[0]), api.cli.__file__; "
                    "sys.argv[0] = \"casetrail\"; api.cli.main()' \"$@\"\n")
    shim.chmod(0o755)
    return bin_dir


def service_env(service: str, variables: dict[str, str], postgres: Settings,
                home: Path, bin_dir: Path) -> tuple[dict[str, str], list[str]]:
    """A compose service's environment and command, with the database host the
    compose network would resolve replaced by the test's server and schema."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    spec = compose["services"][service]
    env = {k: interpolate(str(v), variables) for k, v in spec["environment"].items()}
    dsn = postgres.database_url.get_secret_value()  # type: ignore[union-attr]
    assert env["CASETRAIL_DATABASE_URL"].startswith("postgresql://casetrail:")
    env["CASETRAIL_DATABASE_URL"] = dsn + ("&" if "?" in dsn else "?") + (
        env["CASETRAIL_DATABASE_URL"].partition("?")[2])
    base = {k: v for k, v in os.environ.items() if not k.startswith("CASETRAIL_")}
    image = {"CASETRAIL_HOME": str(home), "CASETRAIL_HOST": "127.0.0.1",  # the Dockerfile's
             "CASETRAIL_POSTGRES_SCHEMA": postgres.postgres_schema,
             "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return base | image | env, [str(ENTRYPOINT), *spec["command"]]


@pytest.mark.postgres
def test_compose_services_run_from_the_wheel_through_the_entrypoint(
        postgres_settings: Settings, installed: Path, tmp_path: Path) -> None:
    variables = dot_env()
    home = tmp_path / "volume"

    def run(service: str, *extra: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
        env, command = service_env(service, variables, postgres_settings, home, installed)
        return subprocess.run([*command[:1], *(extra or command[1:])], env=env | env_extra,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    refused = run("serve", CASETRAIL_MASTER_KEY="", CASETRAIL_SIGNING_KEY="")
    assert refused.returncode == 2
    assert "set CASETRAIL_SIGNING_KEY CASETRAIL_MASTER_KEY" in refused.stderr

    upgraded = run("upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded from revision none to {head()}" in upgraded.stderr

    port = free_port()
    processes: dict[str, subprocess.Popen[Any]] = {}
    for service in ("worker", "serve"):
        env, command = service_env(service, variables, postgres_settings, home, installed)
        env |= {"CASETRAIL_PORT": str(port)}
        with open(tmp_path / f"{service}.log", "wb") as log:
            processes[service] = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log,
                                                  stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"

        def ready() -> Any:
            try:
                return http_json(f"{base}/readyz")
            except (urllib.error.URLError, OSError):
                return None

        wait_for(ready, 60, "serve to be ready")
        token = run("serve", "token", "--user", "li.wei", "--role", "frontline",
                    "--department", "after_sales")
        assert token.returncode == 0, token.stderr
        signin = run("serve", "console-link", "--user", "audit.1", "--role", "auditor")
        assert signin.stdout.startswith("http://localhost:8000/console/sign-in?token=")
        created = http_json(f"{base}/v1/exceptions", token.stdout.strip(), open_body(
            discovered_at=datetime.now(UTC).isoformat()))
        assert created["version"] == 1
        wait_for(lambda: all(v["lag"] == 0 for v in (ready() or {"views": {"x": {"lag": 1}}})
                             ["views"].values()), 60, "the worker to follow the new events")
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        codes = {name: p.wait(timeout=30) for name, p in processes.items()}
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert codes == {"worker": 0, "serve": -signal.SIGTERM}, codes
    assert "Finished server process" in (tmp_path / "serve.log").read_text()
    assert not (home / "secret.key").exists()  # the keys came from .env, none was made
