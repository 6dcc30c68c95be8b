"""Liveness, readiness and metrics."""

from __future__ import annotations

import logging

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.deps import AppMetrics, CasesApp
from api.routing import Router

router = Router(tags=["operations"])
log = logging.getLogger("casetrail.health")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the store is not reachable"}})
def readyz(request: Request, cases: CasesApp) -> JSONResponse:
    """The event store answers, its schema exists, and the obligations view is
    reachable; `lag` is how many events the view has still to apply."""
    try:
        cases.is_ready()
        view = request.app.state.obligations
        position = view.max_tracking_id(f"{cases.name}:obligations") or 0
        lag = max(0, (cases.recorder.max_notification_id() or 0) - position)
    except Exception as e:  # any failure means "not ready"; the reason is logged
        log.warning("not ready", extra={"error": f"{type(e).__name__}: {e}"})
        return JSONResponse({"status": "unavailable", "store": request.app.state.store},
                            status_code=503)
    return JSONResponse({"status": "ok", "store": request.app.state.store,
                         "views": {"obligations": {"lag": lag}}})


@router.get("/metrics", response_class=Response)
def metrics(app_metrics: AppMetrics) -> Response:
    """Prometheus metrics: requests, latency, commands, conflicts; and the process's
    own (checkpoint refusals and publishing failures, AUD-5)."""
    return Response(generate_latest(app_metrics.registry) + generate_latest(REGISTRY),
                    media_type=CONTENT_TYPE_LATEST)
