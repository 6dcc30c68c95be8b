"""The worker and the embedded scheduler as processes: kill -9 at 20 points of a
catch-up loses and duplicates nothing (R2, SLA-3), the scheduler sweeps on its own
(SLA-5), and only one scheduler leads on PostgreSQL."""

from __future__ import annotations

import random
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.app import CaseApplication
from domain.actors import Role
from domain.service_exceptions.values import Level
from infrastructure.scheduler import AdvisoryLockLeadership
from infrastructure.settings import Settings
from projections.audit import AuditProjection, construct_audit_view
from projections.obligations import ObligationQuery, ObligationsProjection, construct_view
from projections.reports import ReportsProjection, construct_reports_view
from projections.runtime import ViewRunner
from tests.factories import ctx, open_body, record, report_up
from tests.reliability.processes import (
    env_for,
    free_port,
    http_json,
    serve,
    start,
    token_for,
    wait_for,
)


def view_rows(cases: CaseApplication) -> list:
    return construct_view(cases).select(ObligationQuery(), limit=1_000_000)


def add_cases(cases: CaseApplication, count: int) -> None:
    """Three events a case: recorded, reported up, reclassified (new obligations)."""
    now = datetime.now(UTC).replace(microsecond=0)
    for _ in range(count):
        context = ctx(now)
        case = record(context, level=Level.MAJOR)
        report_up(case, context, Role.CS_HEAD)
        case.reclassify(ctx(now, Role.CS_HEAD), level=Level.CRITICAL, reason="worse")
        cases.save_case(case)


def runners(cases: CaseApplication) -> list[ViewRunner]:
    """The views the worker feeds from the log (the outbox has no webhook targets here)."""
    return [ViewRunner(cases, ObligationsProjection(cases, construct_view(cases))),
            ViewRunner(cases, ReportsProjection(cases, construct_reports_view(cases))),
            ViewRunner(cases, AuditProjection(cases, construct_audit_view(cases)))]


KILLS = 20


@pytest.mark.slow
@pytest.mark.rule("SLA-3")
@pytest.mark.rule("RPT-4")
def test_r2_kill_9_of_the_worker_at_20_random_points_then_the_views_equal_a_rebuild(
        cases: CaseApplication, store_settings: Settings, tmp_path: Path) -> None:
    views = runners(cases)
    audit = views[-1]
    # Small batches: a catch-up is many transactions, so the kills land inside it.
    env = env_for(store_settings, CASETRAIL_VIEW_BATCH_SIZE="5")
    chance = random.Random(9)  # the kill points differ from one another, run after run
    kills = 0
    for attempt in range(3 * KILLS):
        if kills == KILLS:
            break
        if audit.lag() < 450:
            add_cases(cases, 200)
        before = audit.position
        worker = start(["worker"], env, tmp_path)
        wait_for(lambda: audit.position > before, 60,  # noqa: B023 - waited on at once
                 f"the worker to apply events (attempt {attempt})", interval=0.01)
        time.sleep(chance.uniform(0, 0.1))
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        # Exactly once up to where it stopped: one audit row per event, none missing.
        applied = [r[0] for r in audit.projections[0].view.rows()]
        logged = [n.id for n in cases.recorder.select_notifications(
            start=1, limit=audit.position, stop=audit.position)]
        assert sorted(applied) == logged, f"attempt {attempt}"
        if audit.position < int(cases.recorder.max_notification_id() or 0):
            kills += 1  # killed mid-catch-up (else it had finished: not a kill point)
    assert kills == KILLS, f"only {kills} kills landed mid-catch-up"

    total = int(cases.recorder.max_notification_id() or 0)
    worker = start(["worker"], env, tmp_path)
    try:
        wait_for(lambda: all(v.position == total for v in views), 300,
                 "the restarted worker to catch up")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    live = [v.projections[0].view.rows() for v in views]
    for runner in views:
        runner.rebuild()
    assert [v.projections[0].view.rows() for v in views] == live
    # Per case: report up, plan and resolution as major; report up and plan as critical
    # (a critical resolution is owed only once a plan with milestones is approved).
    assert len(view_rows(cases)) == 5 * total // 3


@pytest.mark.rule("SLA-5")
def test_the_embedded_scheduler_records_breaches_on_its_own(
        cases: CaseApplication, store_settings: Settings, tmp_path: Path, make_token) -> None:
    port = free_port()
    env = env_for(store_settings,
                  CASETRAIL_POLICY__EXCEPTIONS__REPORT_UP_CRITICAL="PT2S",
                  CASETRAIL_POLICY__SLA__SWEEP_INTERVAL="PT1S",
                  CASETRAIL_EMBEDDED_WORKERS="true")
    server = serve(env, tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        token = token_for(store_settings, "li.wei", Role.FRONTLINE)
        discovered = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        case = http_json(f"{base}/v1/exceptions", token,
                         open_body(level="critical", discovered_at=discovered))
        history = f"{base}/v1/exceptions/{case['id']}/history"
        wait_for(lambda: any(e["type"] == "ObligationBreached"
                             for e in http_json(history, token)["items"]), 30,
                 "the scheduler to record the breach")
        breaches = [e for e in http_json(history, token)["items"]
                    if e["type"] == "ObligationBreached"]
        assert [b["data"]["key"] for b in breaches] == ["EX-ESC-1@v1"]
        assert breaches[0]["actor"]["user"] == "casetrail"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


@pytest.mark.postgres
@pytest.mark.rule("SLA-5")
def test_one_scheduler_leader_at_a_time_on_postgresql(postgres_url: str) -> None:
    first, second = (AdvisoryLockLeadership(postgres_url, "deployment_a"),
                     AdvisoryLockLeadership(postgres_url, "deployment_a"))
    other = AdvisoryLockLeadership(postgres_url, "deployment_b")
    try:
        assert first.is_leader()
        assert not second.is_leader()
        assert first.is_leader()  # still holds it
        assert other.is_leader()  # another schema is another deployment, with its leader
        first.release()
        assert second.is_leader()
        assert not first.is_leader()
    finally:
        first.release()
        second.release()
        other.release()




@pytest.mark.rule("SLA-3")
def test_sweep_and_rebuild_commands(cases: CaseApplication, store_settings: Settings,
                                    tmp_path: Path) -> None:
    import subprocess

    from tests.reliability.processes import CASETRAIL

    context = ctx(datetime.now(UTC) - timedelta(hours=2))
    cases.save_case(record(context, level=Level.CRITICAL, discovered_at=context.at))
    env = env_for(store_settings)
    swept = subprocess.run([CASETRAIL, "sweep"], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
    assert swept.returncode == 0, swept.stderr
    assert "breaches recorded: 1" in swept.stderr
    before = view_rows(cases)
    rebuilt = subprocess.run([CASETRAIL, "rebuild", "obligations"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "obligations: 2 events replayed" in rebuilt.stderr
    assert view_rows(cases) == before
    unknown = subprocess.run([CASETRAIL, "rebuild", "nonsense"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "unknown view" in unknown.stderr


def test_scheduler_jobs_have_names_and_routine_runs_stay_out_of_info_logs(
        cases: CaseApplication, store_settings: Settings,
        caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from api.observability import configure_logging
    from infrastructure.scheduler import SingleProcessLeadership, Workers

    workers = Workers(cases, store_settings, SingleProcessLeadership())
    names = {job.id: job.name for job in workers.scheduler.get_jobs()}
    assert names == {n: n for n in ("sla-sweep", "webhooks", "reports", "special-survey",
                                    "purge", "idempotency-expiry", "checkpoint")}
    workers.scheduler.start(paused=True)  # jobs get their first runs; none runs
    try:
        assert all(job.next_run_time is not None for job in workers.scheduler.get_jobs())
    finally:
        workers.scheduler.shutdown(wait=False)
    with caplog.at_level(logging.DEBUG, logger="casetrail.scheduler"):
        workers._leading("webhooks", lambda: 0)()
    assert [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "casetrail.scheduler"] == [("DEBUG", "scheduled job webhooks ran: 0")]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("INFO")
        assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(
            logging.INFO)  # APScheduler's "Running job ..." every few seconds
    finally:
        root.handlers[:], root.level = handlers, level


@pytest.mark.postgres
@pytest.mark.rule("SLA-5")
def test_two_deployments_in_two_schemas_of_one_database_each_record_their_breaches(
        postgres_settings: Settings, tmp_path: Path) -> None:
    """A worker per deployment: each leads its own schema's scheduler, so each
    deployment's overdue obligation is breached (a key per database left one idle)."""
    import psycopg

    from domain.service_exceptions.model import ServiceException
    from infrastructure.bootstrap import build_application, init_schema

    schema_b = f"{postgres_settings.postgres_schema}_b"
    other = postgres_settings.model_copy(update={"postgres_schema": schema_b})
    deployments, workers = [], []
    try:
        for settings in (postgres_settings, other):
            init_schema(settings)
            cases = build_application(settings)
            late = ctx(datetime.now(UTC) - timedelta(hours=2))
            case = record(late, level=Level.CRITICAL, discovered_at=late.at)
            cases.save_case(case)
            deployments.append((cases, case.id))
            workdir = tmp_path / settings.postgres_schema
            workdir.mkdir()
            workers.append(start(["worker"], env_for(
                settings, CASETRAIL_POLICY__SLA__SWEEP_INTERVAL="PT1S"), workdir))
        for cases, case_id in deployments:
            wait_for(lambda c=cases, i=case_id: c.get_case(ServiceException, i).breaches,
                     60, "each deployment's worker to record its breach")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        for cases, _ in deployments:
            cases.close()
        with psycopg.connect(other.database_url.get_secret_value(),  # type: ignore[union-attr]
                             autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{other.postgres_schema}" CASCADE')
