"""The worker and the embedded scheduler as processes: a kill -9 mid-catch-up loses
and duplicates nothing (SLA-3), the scheduler sweeps on its own (SLA-5), and only
one scheduler leads on PostgreSQL."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.app import CaseApplication
from domain.actors import Role
from domain.service_exceptions.values import Level
from infrastructure.scheduler import AdvisoryLockLeadership
from infrastructure.settings import Settings
from projections.obligations import ObligationQuery, ObligationsProjection, construct_view
from projections.runtime import ViewRunner
from tests.factories import ctx, open_body, record, report_up
from tests.reliability.processes import env_for, free_port, http_json, start, wait_for


def view_rows(cases: CaseApplication) -> list:
    return construct_view(cases).select(ObligationQuery(), limit=1_000_000)


@pytest.mark.rule("SLA-3")
def test_kill_9_of_the_worker_mid_catch_up_then_restart_equals_a_rebuild(
        cases: CaseApplication, store_settings: Settings, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    for _ in range(600):
        context = ctx(now)
        case = record(context, level=Level.MAJOR)
        report_up(case, context, Role.CS_HEAD)
        case.reclassify(ctx(now, Role.CS_HEAD), level=Level.CRITICAL, reason="worse")
        cases.save_case(case)
    total = cases.recorder.max_notification_id()
    runner = ViewRunner(cases, ObligationsProjection(cases, construct_view(cases)))
    env = env_for(store_settings)

    worker = start(["worker"], env, tmp_path)
    wait_for(lambda: runner.position > total // 4, 60, "the worker to start catching up")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert 0 < runner.position < total, "killed mid-catch-up"

    worker = start(["worker"], env, tmp_path)
    try:
        wait_for(lambda: runner.position == total, 120, "the restarted worker to catch up")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    live = view_rows(cases)
    runner.rebuild()
    assert view_rows(cases) == live
    # Per case: report up, plan and resolution as major; report up and plan as critical
    # (a critical resolution is owed only once a plan with milestones is approved).
    assert len(live) == 600 * 5


@pytest.mark.rule("SLA-5")
def test_the_embedded_scheduler_records_breaches_on_its_own(
        cases: CaseApplication, store_settings: Settings, tmp_path: Path, make_token) -> None:
    port = free_port()
    env = env_for(store_settings,
                  CASETRAIL_POLICY__EXCEPTIONS__REPORT_UP_CRITICAL="PT2S",
                  CASETRAIL_POLICY__SLA__SWEEP_INTERVAL="PT1S",
                  CASETRAIL_EMBEDDED_WORKERS="true")
    server = start(["serve", "--port", str(port)], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base), 30, "serve to start")
        from infrastructure.clock import SystemClock
        from infrastructure.tokens import TokenService

        token = TokenService(store_settings.secret_key.get_secret_value(),
                             SystemClock()).issue("li.wei", [Role.FRONTLINE])
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


def _up(base: str) -> bool:
    try:
        return http_json(f"{base}/healthz") == {"status": "ok"}
    except OSError:
        return False


@pytest.mark.postgres
@pytest.mark.rule("SLA-5")
def test_one_scheduler_leader_at_a_time_on_postgresql(postgres_url: str) -> None:
    first, second = AdvisoryLockLeadership(postgres_url), AdvisoryLockLeadership(postgres_url)
    try:
        assert first.is_leader()
        assert not second.is_leader()
        assert first.is_leader()  # still holds it
        first.release()
        assert second.is_leader()
        assert not first.is_leader()
    finally:
        first.release()
        second.release()




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
