"""Figures an operator alerts on, read from the store when Prometheus scrapes: how
far each view is behind the log, obligations by state (breaches and overdue ones on
record) and those warned, the webhook backlog and the age of its oldest delivery, and the
PostgreSQL pool's use. A failing read leaves the figure out of that scrape (the
scrape itself never fails); `/readyz` says why."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from application.app import CaseApplication

log = logging.getLogger("casetrail.metrics")


def view_lags(cases: CaseApplication, views: dict[str, Any]) -> dict[str, int]:
    """Events of the log each view has still to apply."""
    head = int(cases.recorder.max_notification_id() or 0)
    return {name: max(0, head - int(view.max_tracking_id(f"{cases.name}:{name}") or 0))
            for name, view in views.items()}


class StoreCollector(Collector):
    def __init__(self, cases: CaseApplication, views: dict[str, Any], outbox: Any) -> None:
        self.cases, self.views, self.outbox = cases, views, outbox

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            lag = GaugeMetricFamily("casetrail_view_lag_events",
                                    "events of the log a view has still to apply", labels=["view"])
            for name, behind in view_lags(self.cases, self.views).items():
                lag.add_metric([name], behind)
            yield lag
            states = GaugeMetricFamily("casetrail_obligations",
                                       "obligations in the view by state", labels=["state"])
            for state, n in self.views["obligations"].count_by("state").items():
                states.add_metric([str(state)], n)
            yield states
            warned = sum(self.views["obligations"].count_by(
                "state", "warning_version IS NOT NULL").values())
            yield GaugeMetricFamily("casetrail_obligation_warnings",
                                    "obligations whose deadline warning is on record",
                                    value=warned)
            pending, oldest = self.outbox.backlog()
            yield GaugeMetricFamily("casetrail_webhook_backlog",
                                    "webhook deliveries not yet made", value=pending)
            age = (self.cases.clock.now() - oldest).total_seconds() if oldest else 0.0
            yield GaugeMetricFamily("casetrail_webhook_oldest_pending_seconds",
                                    "age of the oldest delivery not yet made", value=age)
        except Exception as e:  # a scrape never fails; readiness reports the store
            log.warning("store metrics unavailable: %s: %s", type(e).__name__, e)
        pool = getattr(getattr(self.cases.factory, "datastore", None), "pool", None)
        if pool is not None and hasattr(pool, "get_stats"):
            stats = pool.get_stats()
            for key, help_text in (("pool_size", "connections open"),
                                   ("pool_available", "connections idle in the pool"),
                                   ("requests_waiting", "requests waiting for a connection")):
                yield GaugeMetricFamily(f"casetrail_db_{key}", help_text,
                                        value=stats.get(key, 0))
