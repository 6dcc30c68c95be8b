"""Failing fast while PostgreSQL is away (R4).

When a request meets a store error the gate checks the server with a direct
connection of its own (not through the pool, whose waits are what makes an outage
slow). If the server does not answer, the gate closes: requests get a 503 problem at
once instead of each waiting out the pool, and a background probe reopens the gate
as soon as the server answers again. A store error while the server answers (a lock
timeout, a dropped connection) leaves the gate open. Per process, no coordination:
each API process finds out for itself."""

from __future__ import annotations

import logging
import threading
import time

import psycopg

log = logging.getLogger("casetrail.store")


class StoreGate:
    def __init__(self, url: str, *, probe_timeout: int = 1, interval: float = 1.0) -> None:
        self.url = url
        self.probe_timeout = probe_timeout
        self.interval = interval
        self._closed = threading.Event()
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def reachable(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=self.probe_timeout) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def suspect(self) -> None:
        """A request met a store error: close the gate if the server is away."""
        with self._lock:
            if self.closed or self.reachable():
                return
            self._closed.set()
        log.error("the event store is unreachable; answering 503 until it is back")
        threading.Thread(target=self._probe, name="store-probe", daemon=True).start()

    def _probe(self) -> None:
        while not self.reachable():
            time.sleep(self.interval)
        self._closed.clear()
        log.warning("the event store is reachable again")
