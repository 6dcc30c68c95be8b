"""Feeding views from the notification log, exactly once through tracking.

Each view keeps its position as a tracking row (name `casetrail:<view>`) written in
the same transaction as the view change, so a crash at any point resumes where
the last committed event left off: no duplicates, no gaps. Catching up applies a
batch of events (`view_batch_size`, 500) per transaction; following the log live
applies each event as it comes. On PostgreSQL the runner follows the log through
the library's LISTEN/NOTIFY subscription; SQLite has no subscriptions, so there
it polls `select_notifications`.

Several runners may follow the same view (two workers): a runner that loses the
race for a position gets an IntegrityError from the tracking row, re-reads the
position and goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder

from application.app import CaseApplication
from domain.cases import Case

log = logging.getLogger("casetrail.projections")


Batch = Sequence[tuple[int, Any]]
"""(notification id, domain event) pairs, in log order."""


class Projection(Protocol):
    name: str
    view: Any

    def process(self, batch: Batch, tracking: Tracking) -> None:
        """Apply the batch and advance tracking to its last event, in one transaction."""


class CaseProjection:
    """A projection over cases: its view, and the case as it was at an event."""

    name: str

    def __init__(self, cases: CaseApplication, view: Any) -> None:
        self.cases = cases
        self.view = view

    def cases_after(self, batch: Batch) -> list[tuple[Any, Case | None]]:
        """Each case of the batch as of its last event there, with that event. A view
        that replaces a case's rows from the case as of an event needs only that one:
        what the earlier events would have written is replaced in the same
        transaction. The batch's own events are folded onto the case as it was before
        them (read from the store only when the case began before the batch)."""
        states: dict[Any, Any] = {}
        last: dict[Any, Any] = {}
        for _, event in batch:
            key = event.originator_id
            if key not in states:
                states[key] = None if event.originator_version == 1 else (
                    self.cases.repository.get(key, version=event.originator_version - 1))
            states[key] = event.mutate(states[key])
            last[key] = event
        return [(last[key], state if isinstance(state, Case) else None)
                for key, state in states.items()]


class ViewRunner:
    def __init__(self, cases: CaseApplication, projection: Projection, *,
                 batch_size: int = 500, poll_interval: float = 1.0) -> None:
        self.cases = cases
        self.projection = projection
        self.tracking_name = f"{cases.name}:{projection.name}"
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._subscription: Any = None
        self._thread: threading.Thread | None = None

    @property
    def position(self) -> int:
        return int(self.projection.view.max_tracking_id(self.tracking_name) or 0)

    def lag(self) -> int:
        return max(0, int(self.cases.recorder.max_notification_id() or 0) - self.position)

    def _apply(self, notifications: Sequence[Any]) -> None:
        batch = [(n.id, self.cases.mapper.to_domain_event(n)) for n in notifications]
        self.projection.process(batch, Tracking(self.tracking_name, notifications[-1].id))

    def catch_up(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Apply every event recorded so far, a batch per transaction (B3); returns
        how many this runner applied."""
        applied = 0
        while True:
            batch = self.cases.recorder.select_notifications(
                start=self.position + 1, limit=self.batch_size)
            if not batch:
                return applied
            try:
                self._apply(batch)
            except IntegrityError:
                continue  # another runner took these positions: re-read and go on
            applied += len(batch)
            if on_progress:
                on_progress(len(batch))

    def rebuild(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Drop the view and replay the whole log into it."""
        self.projection.view.clear(self.tracking_name)
        return self.catch_up(on_progress)

    # --- following the log in a background thread ------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name=f"view-{self.projection.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._subscription is not None:
            self._subscription.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.catch_up()
                if self._can_subscribe():
                    self._follow_subscription()
                else:
                    self._stop.wait(self.poll_interval)
            except Exception:
                log.exception("view %s failed; retrying", self.projection.name)
                self._stop.wait(min(30.0, self.poll_interval * 5))

    def _can_subscribe(self) -> bool:
        return isinstance(self.cases.recorder, PostgresApplicationRecorder)

    def _follow_subscription(self) -> None:
        with self.cases.recorder.subscribe(gt=self.position) as subscription:
            self._subscription = subscription
            if self._stop.is_set():
                return
            for notification in subscription:
                try:
                    self._apply([notification])
                except IntegrityError:
                    return  # another runner is ahead: resubscribe from the new position
