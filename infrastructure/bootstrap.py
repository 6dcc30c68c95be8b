"""Composition root: settings -> clock, calendar, application. Nothing is wired at
import time, so tests build their own with their own settings and clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventsourcing.persistence import JSONTranscoder

from application.app import CaseApplication
from domain.clock import Clock
from infrastructure.clock import SystemClock
from infrastructure.holiday_calendar import HolidayCalendar
from infrastructure.persistence import persistence_env
from infrastructure.personal_data import KeyRing, SealingMapper, install_sealing, kek_files
from infrastructure.settings import Settings
from infrastructure.transcodings import register_all

if TYPE_CHECKING:
    from infrastructure.migrations import Upgrade
    from infrastructure.scheduler import Workers


def build_application(
    settings: Settings, clock: Clock | None = None, *, create_tables: bool = False
) -> CaseApplication:
    keys = KeyRing(kek_files(settings))
    seal = install_sealing(keys)

    def transcodings(transcoder: JSONTranscoder) -> None:
        register_all(transcoder)
        seal(transcoder)  # after the plain Customer transcoding: sealed wins for writing

    app = CaseApplication(
        env=persistence_env(settings, create_tables=create_tables),
        clock=clock or SystemClock(),
        calendar=build_calendar(settings),
        policy=settings.policy,
        transcodings=transcodings,
        mapper=lambda transcoder: SealingMapper(transcoder, keys),
        snapshot_interval=settings.snapshot_interval,
        case_cache_size=settings.case_cache_size,
    )
    keys.bind(app.recorder)  # type: ignore[arg-type]
    app.keys = keys  # type: ignore[attr-defined]
    return app


def build_calendar(settings: Settings) -> HolidayCalendar:
    cal = settings.calendar
    return HolidayCalendar(
        zone=cal.timezone,
        country=cal.country,
        close_of_business=cal.close_of_business,
        closures=cal.closures,
        extra_working_days=cal.extra_working_days,
    )


def init_schema(settings: Settings) -> Upgrade:
    """`casetrail db upgrade` (`db init`): bring the schema to this release's, under a
    lock, in one transaction (see infrastructure/migrations)."""
    from infrastructure.migrations import upgrade

    return upgrade(settings)


def create_tables_from_code(settings: Settings) -> None:
    """The tables as the recorders' and views' own DDL makes them: what the migrations
    must arrive at (tests/integration/test_migrations.py compares the two)."""
    from projections.audit import construct_audit_view
    from projections.library import construct_library_view
    from projections.obligations import construct_view
    from projections.outbox import construct_outbox
    from projections.reports import construct_reports_view

    app = build_application(settings, create_tables=True)
    try:
        for view in (construct_view, construct_outbox, construct_audit_view,
                     construct_reports_view, construct_library_view):
            view(app).create_table()  # type: ignore[attr-defined]
    finally:
        app.close()


def build_workers(settings: Settings, cases: CaseApplication) -> Workers:
    """The view runner and scheduler; one leader at a time on PostgreSQL."""
    from infrastructure.scheduler import (
        AdvisoryLockLeadership,
        SingleProcessLeadership,
        Workers,
    )

    leadership = (AdvisoryLockLeadership(settings.database_url.get_secret_value(),
                                         settings.postgres_schema)
                  if settings.database_url else SingleProcessLeadership())
    return Workers(cases, settings, leadership)
