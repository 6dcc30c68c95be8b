"""Request ids, structured JSON logs and Prometheus metrics.

Logs carry the request id, method, route template, status, duration and the
acting user id; never bodies, query strings or customer data (SEC-PII).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access_log = logging.getLogger("casetrail.access")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI copy of the message
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(
        "{levelname}{name}{message}{request_id}", style="{", timestamp="time",
        rename_fields={"levelname": "level", "name": "logger"}))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True  # replaced by casetrail.access
    # APScheduler announces every run of every job at INFO ("Running job ..."): the
    # webhook job alone would write ~35k lines a day. Its warnings and errors stay;
    # casetrail.scheduler logs each run at DEBUG.
    logging.getLogger("apscheduler.executors.default").setLevel(
        max(logging.WARNING, logging.getLevelName(level)))


class Metrics:
    """One registry per application instance, so tests can build many apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("casetrail_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("casetrail_http_request_duration_seconds",
                                 "HTTP request latency", ["method", "route"],
                                 registry=self.registry)
        self.commands = Counter("casetrail_commands", "Commands by outcome",
                                ["case_type", "command", "outcome"], registry=self.registry)
        self.conflicts = Counter("casetrail_conflicts", "Version conflicts",
                                 ["kind"], registry=self.registry)


class ObservabilityMiddleware:
    """Pure ASGI: assigns the request id, times the request, logs and counts it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append(
                    (b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            extra: dict[str, Any] = {"method": method, "route": route, "status": status,
                                     "duration_ms": round(elapsed * 1000, 2)}
            user = scope["state"].get("user")
            if user:
                extra["user"] = user
            access_log.info("request", extra=extra)
            request_id_var.reset(token)
