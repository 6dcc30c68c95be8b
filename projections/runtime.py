"""Feeding views from the notification log, exactly once through tracking.

Each view keeps its position as a tracking row (name `casetrail:<view>`) written in
the same transaction as the view change, so a crash at any point resumes where
the last committed event left off: no duplicates, no gaps. Catching up applies a
batch of events (`view_batch_size`, 500) per transaction; following the log live
applies each event as it comes. On PostgreSQL the runner follows the log through
the library's LISTEN/NOTIFY subscription; SQLite has no subscriptions, so there
it polls `select_notifications`.

One runner may feed several views: it reads, decodes and folds each batch once, and
applies it to each view in that view's own transaction, from that view's position.
Several runners may follow the same view (two workers): a runner that loses the
race for a position gets an IntegrityError from the tracking row, re-reads the
position and goes on.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from eventsourcing.domain import OriginatorVersionError
from eventsourcing.persistence import IntegrityError, PersistenceError, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder

from application.app import UNREADABLE, CaseApplication
from domain.cases import Case
from domain.errors import HistoryDamaged

log = logging.getLogger("casetrail.projections")


Batch = Sequence[tuple[int, Any]]
"""(notification id, domain event) pairs, in log order."""
Folded = list[tuple[Any, "Case | None"]]
"""Each case of a batch as of its last event there, with that event."""


class Projection(Protocol):
    name: str
    view: Any

    def process(self, batch: Batch, tracking: Tracking) -> None:
        """Apply the batch and advance tracking to its last event, in one transaction."""


def fold(cases: CaseApplication, batch: Batch) -> Folded:
    """Each case of the batch as of its last event there, with that event. A view that
    replaces a case's rows from the case as of an event needs only that one: what the
    earlier events would have written is replaced in the same transaction. The batch's
    own events are folded onto the case as it was before them (read from the store
    only when the case began before the batch). Views only read the cases."""
    states: dict[Any, Any] = {}
    last: dict[Any, Any] = {}
    for _, event in batch:
        key = event.originator_id
        last[key] = event
        if states.get(key) is DAMAGED:
            continue
        try:
            if key not in states:
                states[key] = None if event.originator_version == 1 else (
                    cases.repository.get(key, version=event.originator_version - 1))
            states[key] = event.mutate(states[key])
        except (HistoryDamaged, OriginatorVersionError) as e:
            # A case whose history has a gap (AUD-3) keeps its rows as they were; the
            # views of every other case go on. Its verify call names the damage.
            log.error("case %s cannot be folded at version %d: %s", key,
                      event.originator_version, e)
            states[key] = DAMAGED
    return [(last[key], state if isinstance(state, Case) else None)
            for key, state in states.items()]


DAMAGED = object()
"""A case of a batch that could not be folded: its views are left as they were."""


class CaseProjection:
    """A projection over cases: its view, fed the cases of each batch as folded."""

    name: str

    def __init__(self, cases: CaseApplication, view: Any) -> None:
        self.cases = cases
        self.view = view

    def process(self, batch: Batch, tracking: Tracking) -> None:
        self.process_cases(fold(self.cases, batch), tracking)

    def process_cases(self, folded: Folded, tracking: Tracking) -> None:
        raise NotImplementedError


class ViewRunner:
    """Feeds one or more views from the log. Each view keeps its own tracking and gets
    its own transaction; a runner of several reads, decodes and folds each batch once
    for all of them (B3), from the position of the view furthest behind."""

    def __init__(self, cases: CaseApplication, *projections: Projection,
                 batch_size: int = 500, poll_interval: float = 1.0) -> None:
        self.cases = cases
        self.projections = projections
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._subscription: Any = None
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        """The views it feeds, for its thread and its log lines."""
        return "+".join(p.name for p in self.projections)

    def tracking_name(self, projection: Projection) -> str:
        return f"{self.cases.name}:{projection.name}"

    def positions(self) -> list[int]:
        return [int(p.view.max_tracking_id(self.tracking_name(p)) or 0)
                for p in self.projections]

    @property
    def position(self) -> int:
        """The position of the view furthest behind."""
        return min(self.positions())

    def lag(self) -> int:
        return max(0, int(self.cases.recorder.max_notification_id() or 0) - self.position)

    def _apply(self, notifications: Sequence[Any], positions: list[int]) -> list[int] | None:
        """Apply the events each view has not seen yet; the views' new positions, or
        None when another runner got to a view first (its tracking row refused ours)."""
        with self.cases.keys_as_now():
            batch = [(n.id, self._decode(n)) for n in notifications]
        folds: dict[int, Folded] = {}
        after, raced = list(positions), False
        for i, (projection, position) in enumerate(zip(self.projections, positions,
                                                       strict=True)):
            mine = batch[bisect.bisect_right(batch, position, key=lambda x: x[0]):]
            if not mine:
                continue
            tracking = Tracking(self.tracking_name(projection), mine[-1][0])
            try:
                if isinstance(projection, CaseProjection):
                    if position not in folds:
                        folds[position] = fold(self.cases, mine)
                    projection.process_cases(folds[position], tracking)
                else:
                    projection.process(mine, tracking)
            except IntegrityError:
                raced = True  # another runner applied these to this view
                continue
            after[i] = mine[-1][0]
        return None if raced else after

    def _decode(self, notification: Any) -> Any:
        try:
            return self.cases.mapper.to_domain_event(notification)
        except PersistenceError:
            raise
        except UNREADABLE as e:
            msg = (f"event {notification.originator_version} of case "
                   f"{notification.originator_id} (log position {notification.id}) does not "
                   f"decode ({type(e).__name__}): the views stop before it until the store "
                   "is restored; `casetrail verify --all` names the damage")
            raise HistoryDamaged(msg) from e

    def catch_up(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Apply every event recorded so far, a batch per transaction (B3); returns
        how many events of the log this runner read and applied."""
        applied = 0
        while True:
            positions = self.positions()
            batch = self.cases.recorder.select_notifications(
                start=min(positions) + 1, limit=self.batch_size)
            if not batch:
                return applied
            if self._apply(batch, positions) is None:
                continue  # re-read the positions and go on
            applied += len(batch)
            if on_progress:
                on_progress(len(batch))

    def rebuild(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Drop the views and replay the whole log into them."""
        for projection in self.projections:
            projection.view.clear(self.tracking_name(projection))
        return self.catch_up(on_progress)

    # --- following the log in a background thread ------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name=f"view-{self.name}",
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
                log.exception("view %s failed; retrying", self.name)
                self._stop.wait(min(30.0, self.poll_interval * 5))

    def _can_subscribe(self) -> bool:
        return isinstance(self.cases.recorder, PostgresApplicationRecorder)

    def _follow_subscription(self) -> None:
        positions = self.positions()
        with self.cases.recorder.subscribe(gt=min(positions)) as subscription:
            self._subscription = subscription
            if self._stop.is_set():
                return
            for notification in subscription:
                applied = self._apply([notification], positions)
                if applied is None:
                    return  # another runner is ahead: resubscribe from the new position
                positions = applied
