"""Secrets from settings, or generated once into a file of their own (mode 600) for
the embedded default, so separate commands on one machine agree on them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr


def key_material(configured: SecretStr | None, path: Path, generate: Callable[[], str]) -> str:
    if configured is not None:
        return configured.get_secret_value()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(generate())
    return path.read_text().strip()
