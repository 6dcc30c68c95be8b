#!/usr/bin/env python3
"""Set-up and everyday commands, needing nothing but Python >= 3.11.

    python3 dev.py run     install into .venv, create the schema, serve on :8000
    python3 dev.py test    install into .venv (with test tools), run every test
    python3 dev.py lint    ruff and mypy

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
    """Create .venv and install the project once per change of pyproject.toml."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs on any python3
        sys.exit(f"casetrail needs Python >= 3.11, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    target = f".[{extra}]" if extra else "."
    stamp = VENV / ".casetrail-installed"
    enough = {_digest(".[test]"), _digest(target)}  # the test extras include the runtime
    if stamp.exists() and stamp.read_text() in enough:
        return
    print(f"installing {target} into .venv", flush=True)
    subprocess.run([BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                   check=True)
    subprocess.run([BIN / "python", "-m", "pip", "install", "--quiet", "-e", target],
                   cwd=ROOT, check=True)
    stamp.write_text(_digest(target))


def _digest(target: str) -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + target.encode()).hexdigest()


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


COMMANDS = {"run": run, "test": test, "lint": lint}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
