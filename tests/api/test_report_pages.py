"""Report pages for people (RPT-1..RPT-3): charts drawn as inline SVG, checked in
headless Chromium by a screenshot; the tables as CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from domain.actors import Role
from tests.api.chromium import screenshot
from tests.api.conftest import bearer
from tests.integration.test_reports import Month, month  # noqa: F401 - the fixture


def saturated_pixels(png: Path) -> int:
    """Pixels in clear colour: the chart's bars, not text, borders or background."""
    image = Image.open(png).convert("RGB")
    width, height = image.size
    pixels = image.load()
    return sum(1 for x in range(0, width, 2) for y in range(0, height, 2)
               if max(pixels[x, y]) - min(pixels[x, y]) > 60)


@pytest.mark.rule("RPT-1")
def test_rpt_1_the_monthly_report_page_renders_its_chart_in_chromium(
        month: Month, client: TestClient, make_token, tmp_path: Path) -> None:  # noqa: F811
    token = bearer(make_token("boss", Role.MANAGEMENT), Accept="text/html")
    response = client.get("/v1/reports/exceptions/monthly?month=2026-11", headers=token)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<svg" in page and "<script" not in page and "http" not in page.split("<svg")[0]
    with_chart = saturated_pixels(screenshot(page, tmp_path))
    without = page[:page.index("<figure>")] + page[page.index("</figure>") + 9:]
    bare = saturated_pixels(screenshot(without, tmp_path / "bare"))
    assert with_chart > 500 > bare  # the chart, and only the chart, draws in colour


@pytest.mark.rule("RPT-2")
def test_rpt_2_department_kpis_as_csv(month: Month, client: TestClient,  # noqa: F811
                                     make_token) -> None:
    token = bearer(make_token("boss", Role.MANAGEMENT), Accept="text/csv")
    response = client.get("/v1/reports/departments", headers=token, params={
        "from": "2026-11-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"})
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="department-kpis-2026-11-01-2026-12-01.csv"')
    assert response.content.startswith("\ufeff".encode())  # Excel reads the UTF-8 as such
    lines = response.text.removeprefix("\ufeff").splitlines()
    assert lines[0].startswith("department,exceptions,exception_rate,response_timeliness")
    # percents and decimals, never "2/3" (a date to a spreadsheet) or "None"
    assert lines[1] == "after_sales,4,66.7%,75.0%,25.0%,4.00,2,50.0%,1"
    assert "None" not in response.text and "/" not in response.text.split("\n", 1)[1]
    refused = client.get("/v1/reports/departments", params={
        "from": "2026-11-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"},
        headers=bearer(make_token("boss", Role.MANAGEMENT), Accept="application/pdf"))
    assert refused.status_code == 406


@pytest.mark.rule("RPT-1")
def test_rpt_1_count_charts_step_by_whole_numbers_and_show_zero_bars() -> None:
    import re

    from api.rendering import bar_chart

    svg = bar_chart("t", {"opened": [0, 1, 1]}, ["a", "b", "c"], x_title="department",
                    y_title="exceptions", counts=True)
    axis = svg[svg.index('class="axis y'):]
    labels = re.findall(r'<text[^>]*>([^<]+)</text>', axis[:axis.index("</g></g>") + 8])
    assert labels and all(label.isdigit() for label in labels), labels
    assert len(set(labels)) == len(labels), labels  # a step of 1, not 0.1 rounded
    assert "exceptions" in svg and "department" in svg  # axis titles
    values = re.findall(r'class="value[^"]*"[^>]*>([^<]+)<', svg)
    # each value is drawn twice (text and its halo): the empty bar says 0 as the others
    # say 1, rather than vanish
    assert values.count("0") * 2 == values.count("1") == 4
