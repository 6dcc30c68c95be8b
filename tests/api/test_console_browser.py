"""The web console in a real browser: Playwright driving the system Chromium against
`casetrail serve`, offline (every request that leaves the machine fails the test).

A manager signs in with a link from `casetrail console-link`, opens last month's
report and reads it, Chinese included; downloads its CSV; prints it on A4. An
auditor searches, opens a critical case, moves the as-of control across its
breach, and verifies it. Each page type is kept as a screenshot (CI artefact,
`artifacts/screenshots/`), checked for CJK glyph coverage, and checked with
axe-core for critical accessibility violations. `/docs` and `/redoc` render offline.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from application.app import CaseApplication
from domain.service_exceptions.values import Level
from infrastructure.scheduler import SingleProcessLeadership, Workers
from infrastructure.settings import Settings
from tests.conftest import IN_CI
from tests.factories import ctx, record
from tests.integration.test_reports import Month, month  # noqa: F401 - the fixture
from tests.reliability.processes import CASETRAIL, env_for, free_port, serve

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "artifacts" / "screenshots"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"

GLYPHS = """(chars) => {
  // Each character drawn in the page's own font; boxes all look alike.
  const canvas = document.createElement('canvas'); canvas.width = 48; canvas.height = 48;
  const g = canvas.getContext('2d', {willReadFrequently: true});
  g.font = '36px ' + getComputedStyle(document.body).fontFamily;
  const seen = new Set();
  for (const ch of chars) {
    g.clearRect(0, 0, 48, 48); g.fillText(ch, 4, 38);
    seen.add(Array.from(g.getImageData(0, 0, 48, 48).data).join(','));
  }
  return seen.size;
}"""


def glyph_coverage(page: Any, text: str | None = None) -> tuple[int, int]:
    """(distinct drawings, distinct CJK characters) of the page's text (or `text`)."""
    import re

    shown = text if text is not None else page.evaluate(
        "() => document.body.innerText + ' ' + Array.from(document.querySelectorAll('svg "
        "text')).map(t => t.textContent).join(' ')")
    chars = sorted(set(re.findall(r"[\u3400-\u9fff]", shown))) if text is None else list(text)
    return page.evaluate(GLYPHS, chars), len(chars)


def check_page(page: Any, name: str) -> None:
    """Screenshot kept; Chinese drawn as glyphs, not boxes; no critical axe finding."""
    from axe_playwright_python.sync_playwright import Axe

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    drawn, chars = glyph_coverage(page)
    assert chars >= 2, f"{name}: expected Chinese on the page"
    assert drawn == chars, f"{name}: {chars - drawn} Chinese characters drawn as boxes"
    violations = Axe().run(page).response["violations"]
    critical = [(v["id"], v["help"]) for v in violations if v["impact"] == "critical"]
    assert not critical, f"{name}: {critical}"


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("CI=true needs chromium (.ci/run installs Debian's package)")
        pytest.skip("chromium is not installed: apt-get install chromium fonts-noto-cjk")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


def offline_page(browser: Any, base: str, outside: list[str]) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  accept_downloads=True, locale="zh-CN")

    def route(r: Any) -> None:
        if r.request.url.startswith(base):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context.new_page()


def link(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([CASETRAIL, "console-link", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


# What a browser shows does not depend on the store, which test_console.py covers on
# both: one store keeps CI's minute and a half of Chromium to half of it.
@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)
def test_a_manager_and_an_auditor_in_chromium(
        browser: Any, month: Month, cases: CaseApplication,  # noqa: F811
        store_settings: Settings, tmp_path: Path) -> None:
    clock = month.clock
    critical = record(ctx(clock.now()), level=Level.CRITICAL, discovered_at=clock.now(),
                      title="机器人码垛线停机 Palletiser line down")
    cases.save_case(critical)
    breach_local = (clock.now() + timedelta(minutes=31)).astimezone(cases.calendar.zone)
    clock.advance(timedelta(minutes=31))  # type: ignore[attr-defined]
    assert Workers(cases, store_settings, SingleProcessLeadership()).sweep().breaches == 1
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = env_for(store_settings, CASETRAIL_EMBEDDED_WORKERS="false",
                  CASETRAIL_PUBLIC_URL=base)
    server = serve(env, tmp_path, port)
    outside: list[str] = []
    try:
        # --- a manager reads last month's report -------------------------------------
        page = offline_page(browser, base, outside)
        page.goto(f"{base}/console/reports")  # not signed in: the sign-in page
        assert page.url.startswith(f"{base}/console/sign-in?next=")
        check_page(page, "sign-in")
        page.goto(link(env, tmp_path, "--user", "boss", "--role", "management"))
        assert page.url == f"{base}/console"
        check_page(page, "home")
        page.get_by_role("navigation").get_by_role("link", name="报表 Reports").click()
        page.fill("#month", "2026-11")
        page.locator("form[aria-labelledby=monthly] button").click()
        page.wait_for_url("**/console/reports/monthly?month=2026-11")
        assert page.locator("h1").inner_text() == "客户服务异常月报 Monthly exceptions 2026-11"
        period = page.locator("p.period").inner_text()
        assert "Period: 2026-11-01 00:00 – 2026-12-01 00:00" in period  # noqa: RUF001
        check_page(page, "report-monthly")
        page.goto(f"{base}/console/reports/departments?from=2026-11-01&to=2026-12-01")
        check_page(page, "report-departments")
        assert "71.4 %" in page.locator("table").inner_text()  # 5 of 7 (with the critical one)
        wrap = page.locator(".table-wrap").first
        assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), "the table overflows"
        legend = page.locator("figure svg").first.text_content() or ""
        assert "response timeliness" in legend and "…" not in legend
        with page.expect_download() as download:
            page.get_by_role("link", name="下载 CSV Download CSV").click()
        assert download.value.suggested_filename == "department-kpis-2026-11-01-2026-12-01.csv"
        assert Path(download.value.path()).read_bytes().startswith("\ufeff".encode())
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=True)
        assert pdf.startswith(b"%PDF") and b"595" in pdf  # A4: 595 x 842 points
        page.context.close()

        # --- an auditor walks the critical case across its breach ----------------------
        page = offline_page(browser, base, outside)
        page.goto(link(env, tmp_path, "--user", "audit.1", "--role", "auditor"))
        page.get_by_role("navigation").get_by_role("link", name="案件 Cases").click()
        page.get_by_role("button", name="搜索 Search").click()
        check_page(page, "cases")
        page.get_by_role("link", name="机器人码垛线停机 Palletiser line down").click()
        assert page.locator("h1").inner_text() == "机器人码垛线停机 Palletiser line down"

        def as_of(local: Any) -> str:
            page.fill("#as_of", f"{local:%Y-%m-%dT%H:%M}")
            page.get_by_role("button", name="显示 Show").click()
            page.wait_for_load_state()
            row = page.locator("#obligations tr", has_text="EX-ESC-1")
            return row.locator(".obligation-state").inner_text()

        assert as_of(breach_local - timedelta(minutes=20)) == "pending"
        breach = page.locator("#timeline tr", has_text="ObligationBreached")
        assert "future" in (breach.get_attribute("class") or "")
        assert as_of(breach_local + timedelta(minutes=1)) == "breached"
        assert "future" not in (breach.get_attribute("class") or "")
        check_page(page, "case")
        page.get_by_role("link", name="校验 Verify the chain").click()
        assert "intact" in page.locator("#verification").inner_text()
        page.context.close()

        # --- the API's documentation, offline ------------------------------------------
        page = offline_page(browser, base, outside)
        page.goto(f"{base}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
        assert "casetrail" in page.locator(".swagger-ui .info .title").inner_text()
        page.goto(f"{base}/redoc")
        page.wait_for_selector("h1", timeout=20000)
        assert "casetrail" in page.locator("h1").first.inner_text()
        page.context.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    # ReDoc's footer asks for Redocly's logo and removes the image when that fails
    # (`onError` in redoc.standalone.js): the only request out, and harmless offline
    assert [u for u in outside if u != REDOC_LOGO] == [], "fetched from outside the machine"


def test_the_glyph_check_fails_on_boxes(browser: Any) -> None:
    """Characters no installed font draws come out as identical boxes: caught."""
    page = browser.new_page()
    page.set_content('<body style="font-family: sans-serif">x</body>')
    drawn, chars = glyph_coverage(page, "\U0003fff0\U0003fff1\U0003fff2\U0003fff3")
    assert (drawn, chars) == (1, 4)
    drawn, chars = glyph_coverage(page, "客户服务异常")
    assert drawn == chars == 6
