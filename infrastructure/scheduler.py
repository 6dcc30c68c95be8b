"""Background work for `casetrail worker` (and `casetrail serve` on the embedded
store): the view runners and the APScheduler jobs, with one scheduler leader at a
time on PostgreSQL through an advisory lock (SLA-5).

Deadlines do not live in the scheduler: each run of the sweep asks the obligations
view what is due, so nothing is lost across restarts, and a sweep that fell due
while no process was running happens at start (the job's first run is "now").
Leadership only avoids duplicate work; correctness does not depend on it, because
a breach is recorded at most once by the event store's concurrency control.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler

from application.app import CaseApplication
from application.reports import produce_due_reports
from application.retention import PurgePlan, purge
from application.sla import SweepReport, sweep
from application.surveys import special_survey_check
from infrastructure.checkpoints import CheckpointRefused, Checkpoints, load_signer, load_witness
from infrastructure.settings import Settings
from infrastructure.webhooks import Deliverer
from projections.audit import AuditProjection, construct_audit_view
from projections.library import LibraryProjection, construct_library_view
from projections.obligations import ObligationsProjection, construct_view
from projections.outbox import OutboxProjection, construct_outbox
from projections.reports import ReportsProjection, construct_reports_view
from projections.runtime import ViewRunner

log = logging.getLogger("casetrail.scheduler")
def advisory_lock_key(purpose: str, schema: str) -> int:
    """The advisory-lock key of one deployment's `purpose` (its scheduler leader, its
    schema upgrade): each schema of a database is a deployment of its own, with locks
    of its own (a signed 64-bit integer)."""
    digest = hashlib.sha256(f"casetrail {purpose}|{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLockLeadership:
    """Holds `pg_try_advisory_lock` on a session of its own while it leads; a lost
    session (database restart) loses the lock, and the next tick tries again. The key
    is the deployment's: the schema's (`advisory_lock_key`)."""

    def __init__(self, conninfo: str, schema: str) -> None:
        self.conninfo = conninfo
        self.key = advisory_lock_key("scheduler leader", schema)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._lock = threading.Lock()

    def is_leader(self) -> bool:
        with self._lock:
            try:
                if self._conn is not None:
                    self._conn.execute("SELECT 1")
                    return True
                conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                if row and row[0]:
                    self._conn = conn
                    log.info("this process leads the scheduler")
                    return True
                conn.close()
                return False
            except psycopg.Error as e:
                log.warning("scheduler leadership unavailable: %s", e)
                self.release()
                return False

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class SingleProcessLeadership:
    """SQLite serves one machine and one process: it always leads."""

    def is_leader(self) -> bool:
        return True

    def release(self) -> None:
        pass


class Workers:
    """The view runners (obligations and report facts together, audit, notifications
    outbox) and the scheduled jobs (SLA sweep, webhook delivery, reports, ...), started
    and stopped together."""

    def __init__(self, cases: CaseApplication, settings: Settings,
                 leadership: AdvisoryLockLeadership | SingleProcessLeadership, *,
                 poll_interval: float = 1.0) -> None:
        self.cases = cases
        def runner(*projections: Any) -> ViewRunner:
            return ViewRunner(cases, *projections, poll_interval=poll_interval,
                              batch_size=settings.view_batch_size)

        self.view = construct_view(cases)
        self.reports = construct_reports_view(cases)
        self.library = construct_library_view(cases)
        # The views derived from cases share each batch's decoding and folding.
        self.runner = runner(ObligationsProjection(cases, self.view),
                             ReportsProjection(cases, self.reports),
                             LibraryProjection(cases, self.library))
        self.audit = construct_audit_view(cases)
        self.audit_runner = runner(AuditProjection(cases, self.audit))
        self.outbox = construct_outbox(cases)
        self.outbox_runner = runner(OutboxProjection(cases, self.outbox, settings.webhooks))
        self.deliverer = Deliverer(self.outbox, settings.webhooks, cases.clock,
                                   timeout=settings.webhook_timeout,
                                   max_backoff=settings.webhook_max_backoff)
        self.leadership = leadership
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        now = cases.clock.now()
        self.checkpoints = Checkpoints(cases.recorder, load_signer(settings),
                                       load_witness(settings))
        self.idempotency_retention = settings.idempotency_retention
        for name, job, every, first in (
                ("sla-sweep", self.sweep, cases.policy.sla.sweep_interval, now),
                ("webhooks", self.deliver, settings.webhook_interval, now),
                ("reports", self.produce_reports, settings.report_interval, now),
                ("special-survey", lambda: special_survey_check(
                    cases, cases.index),  # type: ignore[arg-type]
                 settings.survey_trigger_interval, now),
                ("purge", self.purge, settings.purge_interval, now),
                ("idempotency-expiry", self.forget_idempotency, timedelta(hours=1), now),
                ("checkpoint", self.checkpoint, settings.checkpoint_interval, None)):
            # no first run given: one interval on (`next_run_time=None` would pause it)
            start = {"next_run_time": first} if first is not None else {}
            self.scheduler.add_job(self._leading(name, job), "interval", id=name, name=name,
                                   seconds=every.total_seconds(), **start)

    def _leading(self, name: str, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if not self.leadership.is_leader():
                return
            try:
                result = job()
            except Exception:
                log.exception("scheduled job %s failed", name)
            else:  # a routine run: for debugging only, never at INFO every few seconds
                log.debug("scheduled job %s ran: %s", name, result)
        return run

    def checkpoint(self) -> int | None:
        """AUD-5: sign the next checkpoint, or refuse (alert and metric) on damage."""
        try:
            return self.checkpoints.create(self.cases.clock.now(), self.cases.verify_case)
        except CheckpointRefused:
            return None  # logged and counted by the signer; the next run checks again

    def sweep(self) -> SweepReport:
        self.runner.catch_up()
        report = sweep(self.cases, self.view)
        self.runner.catch_up()  # the view shows the breaches just recorded
        if report.breaches or report.warnings:
            log.info("sweep recorded %d breaches, %d warnings", report.breaches,
                     report.warnings)
        return report

    def purge(self, *, dry_run: bool = False) -> PurgePlan:
        """RET-3: crypto-shred the personal data of customers past retention, unheld."""
        plan = purge(self.cases, self.cases.index,  # type: ignore[arg-type]
                     self.cases.keys,  # type: ignore[attr-defined]
                     dry_run=dry_run)
        if plan.customers and not dry_run:
            log.info("purged the personal data of %d customers", len(plan.customers))
        if plan.kek_version is not None:
            log.info("customer keys rewrapped under KEK version %d; older KEKs destroyed",
                     plan.kek_version)
        return plan

    def forget_idempotency(self) -> int:
        """Idempotency-Key records older than `idempotency_retention` go, and redeemed
        console sign-in links older than a day (long expired: they name a user)."""
        now = self.cases.clock.now()
        self.cases.index.forget_links(now - timedelta(days=1))  # type: ignore[attr-defined]
        forgotten = self.cases.idempotency.forget_idempotency(now - self.idempotency_retention)
        if forgotten:
            log.info("forgot %d expired Idempotency-Key records", forgotten)
        return forgotten

    def produce_reports(self) -> list[tuple[str, str]]:
        self.runner.catch_up()
        return produce_due_reports(self.cases.clock.now(), self.cases.calendar.zone,
                                   self.reports, self.cases.index)  # type: ignore[arg-type]

    def deliver(self) -> int:
        self.outbox_runner.catch_up()
        return self.deliverer.deliver_due()

    def start(self) -> None:
        self.runner.start()
        self.audit_runner.start()
        self.outbox_runner.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.runner.stop()
        self.audit_runner.stop()
        self.outbox_runner.stop()
        self.leadership.release()
