"""`create_app(settings)`: the FastAPI application, wired explicitly (no import-time state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from api import console, problems
from api.console.auth import ConsoleAuth
from api.deps import reject_unknown_query
from api.edge import EdgeMiddleware
from api.observability import Metrics, ObservabilityMiddleware
from api.openapi import document
from api.routers import (
    audit,
    corrective_actions,
    customers,
    exceptions,
    health,
    library,
    obligations,
    reports,
    retention,
    surveys,
)
from api.store_metrics import StoreCollector
from application.app import CaseApplication
from domain.clock import Clock
from infrastructure.bootstrap import build_application, build_workers
from infrastructure.checkpoints import Checkpoints, load_signer, load_witness
from infrastructure.clock import SystemClock
from infrastructure.settings import Settings
from infrastructure.store_gate import StoreGate
from infrastructure.tokens import TokenService, resolve_secret
from projections.audit import construct_audit_view
from projections.library import construct_library_view
from projections.obligations import construct_view
from projections.outbox import construct_outbox
from projections.reports import construct_reports_view

DESCRIPTION = """Event-sourced case management for customer-service regulations.

Authenticate with `Authorization: Bearer <token>` (see `casetrail token`). Errors
are RFC 9457 problem details. Case responses carry `ETag: "<version>"`; send it
back as `If-Match` to refuse stale writes (412). `POST` accepts `Idempotency-Key`.
"""


def create_app(
    settings: Settings,
    clock: Clock | None = None,
    cases: CaseApplication | None = None,
    *,
    workers: bool = False,
) -> FastAPI:
    """`workers`: also run the views and the scheduler in this process (the embedded
    default of `casetrail serve`)."""
    clock = clock or SystemClock()
    owns_cases = cases is None
    cases = cases or build_application(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = build_workers(settings, app.state.cases) if workers else None
        if background:
            background.start()
        yield
        if background:
            background.stop()
        if owns_cases:
            app.state.cases.close()

    # /docs and /redoc with Swagger UI's and ReDoc's assets served from here: they
    # work offline and behind a firewall without a CDN
    app = FastAPIOffline(title="casetrail", version=version("casetrail"),
                         description=DESCRIPTION, static_url="/static/docs",
                         lifespan=lifespan, responses=problems.COMMON_RESPONSES,
                         dependencies=[Depends(reject_unknown_query)])
    app.state.settings = settings
    app.state.store = settings.store
    app.state.store_gate = (StoreGate(settings.database_url.get_secret_value())
                            if settings.database_url else None)
    app.state.cases = cases
    app.state.tokens = TokenService(resolve_secret(settings), clock, settings.token_issuer,
                                    settings.identity_provider)
    app.state.metrics = Metrics()
    app.state.obligations = construct_view(cases)
    app.state.checkpoints = Checkpoints(cases.recorder, load_signer(settings),
                                        load_witness(settings))
    app.state.audit = construct_audit_view(cases)
    app.state.reports = construct_reports_view(cases)
    app.state.library = construct_library_view(cases)
    outbox = construct_outbox(cases)
    app.state.views = {"obligations": app.state.obligations, "reports": app.state.reports,
                       "library": app.state.library, "audit": app.state.audit,
                       "outbox": outbox}
    app.state.metrics.registry.register(StoreCollector(cases, app.state.views, outbox))
    problems.install(app)
    document(app)
    app.include_router(health.router)
    app.include_router(exceptions.router)
    app.include_router(surveys.router)
    app.include_router(customers.router)
    app.include_router(corrective_actions.router)
    app.include_router(reports.router)
    app.include_router(library.router)
    app.include_router(obligations.router)
    app.include_router(audit.audit_router)
    app.include_router(retention.router)
    console.install(app, ConsoleAuth(
        resolve_secret(settings), clock, settings.console_session_ttl,
        settings.identity_provider, app.state.tokens, settings.base_url))
    if app.state.store_gate is not None:
        app.add_middleware(problems.StoreGateMiddleware, gate=app.state.store_gate)
    app.add_middleware(EdgeMiddleware, tokens=app.state.tokens,
                       max_body=settings.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    return app


def from_environment() -> FastAPI:
    """One of `casetrail serve --workers N`'s server processes: settings from the
    environment, no embedded workers (the supervising process runs those)."""
    from api.observability import configure_logging
    from infrastructure.heap import settle
    from infrastructure.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    settle(settings.gc_threshold)
    return app
