"""Reports for people: `Accept: text/html` gives a page with charts drawn by pygal
as inline SVG (no script, nothing fetched by the browser), `text/csv` the table."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Sequence
from typing import Any

import pygal
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pygal.style import CleanStyle

from api.problems import ApiProblem


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


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _chart(chart: Any) -> str:
    """Static SVG: no tooltip script is fetched or inlined (pygal adds a config one)."""
    chart.config.js = []
    return _SCRIPT.sub("", str(chart.render(is_unicode=True, disable_xml_declaration=True)))


def bar_chart(title: str, series: dict[str, Sequence[float | None]],
              labels: Sequence[str]) -> str:
    chart = pygal.Bar(title=title, style=CleanStyle, width=800, height=360,
                      x_label_rotation=20, print_values=False)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _chart(chart)


def line_chart(title: str, series: dict[str, Sequence[float | None]],
               labels: Sequence[str]) -> str:
    chart = pygal.Line(title=title, style=CleanStyle, width=800, height=360,
                       x_label_rotation=20)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _chart(chart)


def table_html(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, *parts: str, heading: bool = True) -> HTMLResponse:
    """A page titled `title`; `heading=False` where the parts bring their own h1."""
    h1 = f"<h1>{html.escape(title)}</h1>" if heading else ""
    return HTMLResponse(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
        "margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px 8px}figure{margin:1em 0}</style></head>"
        f"<body>{h1}{''.join(parts)}</body></html>")


FORMULA = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP "CSV injection")."""


def inert(value: Any) -> Any:
    """A text cell a spreadsheet shows as text, never evaluates (SEC-IN-2)."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA) else value


def csv_response(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: inert(v) for k, v in row.items()} for row in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


def respond(request: Request, payload: dict[str, Any], *, title: str,
            rows: Sequence[dict[str, Any]], columns: Sequence[str], charts: Sequence[str]
            ) -> Response:
    kind = wanted(request)
    if kind == "csv":
        return csv_response(rows, columns)
    if kind == "html":
        figures = "".join(f"<figure>{c}</figure>" for c in charts)
        return page(title, figures, table_html(rows, columns))
    return JSONResponse(payload)
