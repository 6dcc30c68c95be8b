"""Secrets from settings, or generated once into a file of their own (mode 600) for
the embedded default, so separate commands on one machine agree on them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr


def key_material(configured: SecretStr | None, path: Path, generate: Callable[[], str]) -> str:
    if configured is not None:
        return configured.get_secret_value()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600
        try:
            with os.fdopen(fd, "w") as file:
                file.write(generate())
            with contextlib.suppress(FileExistsError):  # whole or absent; never replacing
                os.link(staged, path)  # a key another process made first
        finally:
            os.unlink(staged)
    return path.read_text().strip()
