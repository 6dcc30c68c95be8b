"""Headless Chromium for the tests that check pages as a browser shows them: a
screenshot, or the DOM the browser built. Under CI=true a missing Chromium fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _run(html: str, tmp_path: Path, *flags: str) -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("CI=true needs chromium (.ci/run installs Debian's package)")
        pytest.skip("chromium is not installed: apt-get install chromium")
    tmp_path.mkdir(parents=True, exist_ok=True)
    page = tmp_path / "page.html"
    page.write_text(html, encoding="utf-8")
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'u'}", *flags, page.as_uri()],
                          check=True, capture_output=True, timeout=120, text=True,
                          env=os.environ | {"HOME": str(tmp_path)})
    return done.stdout


def screenshot(html: str, tmp_path: Path) -> Path:
    png = tmp_path / "page.png"
    _run(html, tmp_path, f"--screenshot={png}", "--window-size=1000,1400")
    return png


def dom(html: str, tmp_path: Path) -> str:
    """The document as Chromium parsed it (scripts, had any run, included)."""
    return _run(html, tmp_path, "--dump-dom")
