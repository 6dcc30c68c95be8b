"""Liveness, readiness and metrics."""

from __future__ import annotations

import logging

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.deps import AppMetrics, CasesApp
from api.routing import Router
from api.store_metrics import view_lags

router = Router(tags=["operations"])
log = logging.getLogger("casetrail.health")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {
    "description": "the store is not reachable, or a view lags more than allowed"}})
def readyz(request: Request, cases: CasesApp) -> JSONResponse:
    """The event store answers, its schema exists, and every view (obligations,
    reports, library, audit, outbox) is reachable and at most
    `CASETRAIL_READY_MAX_LAG` events behind the log; `lag` is how many events each
    has still to apply. Views that lag name themselves: no worker runs, or it
    cannot keep up."""
    try:
        cases.is_ready()
        lags = view_lags(cases, request.app.state.views)
    except Exception as e:  # any failure means "not ready"; the reason is logged
        log.warning("not ready", extra={"error": f"{type(e).__name__}: {e}"})
        return JSONResponse({"status": "unavailable", "store": request.app.state.store},
                            status_code=503)
    allowed = request.app.state.settings.ready_max_lag
    behind = sorted(name for name, lag in lags.items() if lag > allowed)
    body = {"status": "lagging" if behind else "ok", "store": request.app.state.store,
            "views": {name: {"lag": lag} for name, lag in lags.items()}}
    if behind:
        body["lagging"] = behind
        body["max_lag"] = allowed
    return JSONResponse(body, status_code=503 if behind else 200)


@router.get("/metrics", response_class=Response)
def metrics(app_metrics: AppMetrics) -> Response:
    """Prometheus metrics: requests, latency, commands, conflicts; and the process's
    own (checkpoint refusals and publishing failures, AUD-5)."""
    return Response(generate_latest(app_metrics.registry) + generate_latest(REGISTRY),
                    media_type=CONTENT_TYPE_LATEST)
