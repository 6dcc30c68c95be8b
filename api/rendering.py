"""Pages for people: reports and closing documents as HTML (Jinja2 templates in
`api/templates`, charts drawn by pygal as inline SVG: no script, nothing fetched),
and report tables as CSV a spreadsheet opens as it should.

Figures are shown as people read them: a ratio as a percent with one decimal, a
mean score with two, nothing as "—" (never `None`, never a fraction such as "3/10",
which spreadsheets take for a date). Chinese renders with the standard CJK font
families named first (`FONT_STACK`), in the pages and in the charts alike.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal
from urllib.parse import quote

import pygal
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pygal.style import CleanStyle

from api.problems import ApiProblem

FONT_STACK = ('"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", '
              '"Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif')
"""CJK families first: a browser without them falls back to `sans-serif`, which on
a machine with no CJK font draws empty boxes; the container installs Noto CJK."""

Kind = Literal["text", "count", "ratio", "percent", "score", "instant"]
"""How a column is shown: `ratio` is a share (0..1, exact "n/d" or a number),
`percent` a figure already in percent, `score` a mean."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = "text"


@dataclass(frozen=True)
class ReportPage:
    """One report, whatever it is sent as: the JSON payload API clients read, and
    the titled, period-stated table and charts people read."""
    title: str
    slug: str
    """The CSV file's name, e.g. `weekly-2026-W47`."""
    period_from: datetime
    period_to: datetime
    payload: dict[str, Any]
    rows: list[dict[str, Any]]
    columns: list[Column]
    charts: list[str] = field(default_factory=list)
    note: str = ""
    """What the period counts, e.g. "exceptions by the date they were discovered"."""


def _number(value: Any) -> Fraction | None:
    if value is None or value == "":
        return None
    return Fraction(value)


def _fixed(value: Fraction, places: int) -> str:
    quantum = Decimal(1).scaleb(-places)
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        quantum, rounding=ROUND_HALF_UP))


def shown(value: Any, kind: Kind, *, missing: str = "—") -> str:
    """A cell as a person reads it."""
    if value is None or value == "":
        return missing
    if kind == "ratio":
        return f"{_fixed(_number(value) * 100, 1)} %"  # type: ignore[operator]
    if kind == "percent":
        return f"{_fixed(_number(value), 1)} %"  # type: ignore[arg-type]
    if kind == "score":
        return _fixed(_number(value), 2)  # type: ignore[arg-type]
    if kind == "instant" and isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return str(value)


def _csv_cell(value: Any, kind: Kind) -> Any:
    """A spreadsheet reads "12.5%" as a percentage and a decimal as a number."""
    if kind in ("ratio", "percent", "score"):
        return shown(value, kind, missing="").replace(" %", "%")
    return inert(shown(value, kind, missing=""))


def percent_series(values: Sequence[Any], kind: Kind = "ratio") -> list[float | None]:
    """Chart values in percent."""
    scale = 100 if kind == "ratio" else 1
    return [None if (n := _number(v)) is None else float(n * scale) for v in values]


STYLE = CleanStyle(font_family=FONT_STACK, title_font_size=16, label_font_size=12,
                   major_label_font_size=12, legend_font_size=13, value_font_size=11)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _chart(chart: Any) -> str:
    """Static SVG that scales to its box: no tooltip script is fetched or inlined."""
    chart.config.js = []
    return _SCRIPT.sub("", str(chart.render(is_unicode=True, disable_xml_declaration=True)))


def _options(title: str, labels: Sequence[str], x_title: str, y_title: str) -> dict[str, Any]:
    return {"title": title, "style": STYLE, "width": 960, "height": 400,
            "x_label_rotation": 20 if len(labels) > 6 else 0, "x_title": x_title,
            "y_title": y_title, "truncate_legend": -1, "truncate_label": -1,
            "legend_at_bottom": True, "print_values": True, "print_zeroes": True}


def bar_chart(title: str, series: dict[str, Sequence[float | None]], labels: Sequence[str],
              *, x_title: str, y_title: str, counts: bool = False) -> str:
    """`counts`: whole numbers, so the axis steps by whole numbers. A zero bar is
    labelled 0, so it is seen rather than missed."""
    chart = pygal.Bar(**_options(title, labels, x_title, y_title))
    if counts:
        top = max((v or 0 for values in series.values() for v in values), default=0)
        step = max(1, -(-int(top) // 8))
        chart.y_labels = list(range(0, int(top) + step + 1, step))
        chart.value_formatter = lambda v: f"{v:.0f}"
    else:
        chart.value_formatter = lambda v: f"{v:.1f}"
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _chart(chart)


def line_chart(title: str, series: dict[str, Sequence[float | None]], labels: Sequence[str],
               *, x_title: str, y_title: str) -> str:
    chart = pygal.Line(**_options(title, labels, x_title, y_title) | {"print_values": False})
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _chart(chart)


templates = Environment(loader=PackageLoader("api", "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True,
                        lstrip_blocks=True)
templates.filters["shown"] = shown
templates.globals["FONT_STACK"] = FONT_STACK


def render(template: str, **context: Any) -> str:
    return templates.get_template(template).render(**context)


def page(title: str, *parts: str, heading: bool = True) -> HTMLResponse:
    """A document page titled `title` from HTML parts made here (charts, rendered
    Markdown); `heading=False` where the parts bring their own h1."""
    return HTMLResponse(render("document.html", title=title, heading=heading,
                               body=Markup("".join(parts))))  # our own HTML, made here


FORMULA = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP "CSV injection")."""


def inert(value: Any) -> Any:
    """A text cell a spreadsheet shows as text, never evaluates (SEC-IN-2)."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA) else value


def csv_response(report: ReportPage) -> Response:
    """UTF-8 with a BOM (Excel then reads Chinese right), as a download named after
    the report and its period."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.key for c in report.columns])
    writer.writerows([_csv_cell(row.get(c.key), c.kind) for c in report.columns]
                     for row in report.rows)
    name = f"{report.slug}.csv"
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=\"{name}\"; "
                                                    f"filename*=UTF-8''{quote(name)}"})


def report_html(report: ReportPage, **context: Any) -> str:
    return render("report.html", report=report, **context)


def wanted(request: Request) -> str:
    accept = request.headers.get("accept", "application/json")
    for kind, media in (("html", "text/html"), ("csv", "text/csv"),
                        ("json", "application/json")):
        if media in accept:
            return kind
    if "*/*" in accept or not accept.strip():
        return "json"
    raise ApiProblem(406, "not-acceptable", "Not acceptable",
                     "reports come as application/json, text/html or text/csv")


def respond(request: Request, report: ReportPage) -> Response:
    kind = wanted(request)
    if kind == "csv":
        return csv_response(report)
    if kind == "html":
        return HTMLResponse(report_html(report))
    return JSONResponse(report.payload)
