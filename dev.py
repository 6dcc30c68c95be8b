#!/usr/bin/env python3
"""Set-up and everyday commands, needing nothing but Python >= 3.11.

    python3 dev.py run     install into .venv, create the schema, serve on :8000
    python3 dev.py test    install into .venv (with test tools), run every test
    python3 dev.py lint    ruff and mypy
    python3 dev.py lock    re-pin requirements*.lock from pyproject.toml (uv)

Dependencies install from the lock files (exact versions, hashes checked), then the
project itself without dependencies: every machine and CI get the same versions.

Extra arguments go to the underlying tool: `python3 dev.py test -k calendar -x`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_installed(extra: str | None) -> None:
    """Create .venv and install the locked dependencies and the project, once per
    change of pyproject.toml or the lock."""
    _ensure_venv()
    lock = LOCKS[extra]
    stamp = VENV / ".casetrail-installed"
    enough = {_digest(LOCKS["test"]), _digest(lock)}  # the test lock includes the runtime
    if stamp.exists() and stamp.read_text() in enough:
        return
    print(f"installing {lock} and the project into .venv", flush=True)
    pip = [BIN / "python", "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--require-hashes", "-r", lock], cwd=ROOT, check=True)
    subprocess.run([*pip, "--no-deps", "-e", "."], cwd=ROOT, check=True)
    if subprocess.run([BIN / "python", "-m", "pip", "check"], cwd=ROOT).returncode:
        sys.exit(f"{lock} does not satisfy pyproject.toml: run `python3 dev.py lock`")
    stamp.write_text(_digest(lock))


def _ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs on any python3
        sys.exit(f"casetrail needs Python >= 3.11, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.create(VENV, with_pip=True)


LOCKS = {None: "requirements.lock", "test": "requirements-test.lock"}


def _digest(lock: str) -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()
                          + (ROOT / lock).read_bytes()).hexdigest()


def run(args: list[str]) -> int:
    ensure_installed(None)
    subprocess.run([BIN / "casetrail", "db", "upgrade"], cwd=ROOT, check=True)
    return subprocess.call([BIN / "casetrail", "serve", *args], cwd=ROOT)


def test(args: list[str]) -> int:
    ensure_installed("test")
    return subprocess.call([BIN / "python", "-m", "pytest", *args], cwd=ROOT)


def lint(args: list[str]) -> int:
    ensure_installed("test")
    code = subprocess.call([BIN / "ruff", "check", ".", *args], cwd=ROOT)
    return code or subprocess.call([BIN / "mypy", "domain", "application"], cwd=ROOT)


def lock(args: list[str]) -> int:
    """Pin every dependency (and its hashes) for Python 3.11 on any platform."""
    _ensure_venv()
    subprocess.run([BIN / "python", "-m", "pip", "install", "--quiet", "uv"], check=True)
    for extra, out in LOCKS.items():
        code = subprocess.call(
            [BIN / "uv", "pip", "compile", "pyproject.toml", *(["--extra", extra] if extra else []),
             "--python-version", "3.11", "--universal", "--generate-hashes", "--quiet",
             "--custom-compile-command", "python3 dev.py lock", "-o", out, *args], cwd=ROOT)
        if code:
            return code
    return 0


COMMANDS = {"run": run, "test": test, "lint": lint, "lock": lock}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
