"""Webhook delivery from the outbox: signed POSTs, retries with capped exponential
back-off, a log row per attempt. A delivery leaves the outbox only as delivered.

Each request carries `X-Casetrail-Delivery` (stable across retries: receivers
de-duplicate on it), `X-Casetrail-Event`, `X-Casetrail-Timestamp` (Unix seconds)
and `X-Casetrail-Signature: sha256=<hex>`, the HMAC-SHA256 under the target's
secret of `<timestamp>.<body>`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import timedelta

import httpx

from domain.clock import Clock
from infrastructure.settings import WebhookTarget
from projections.outbox import Delivery, OutboxView

log = logging.getLogger("casetrail.webhooks")
BACKOFF_BASE = timedelta(seconds=10)


def signature(secret: str, timestamp: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def backoff(attempt: int, cap: timedelta) -> timedelta:
    """10 s, 20 s, 40 s ... up to `cap`; retried for as long as it takes."""
    return min(BACKOFF_BASE * 2 ** min(attempt - 1, 20), cap)


class Deliverer:
    def __init__(self, outbox: OutboxView, targets: Sequence[WebhookTarget], clock: Clock, *,
                 timeout: timedelta, max_backoff: timedelta,
                 client: httpx.Client | None = None) -> None:
        self.outbox = outbox
        self.secrets = {str(t.url): t.secret.get_secret_value() for t in targets}
        self.clock = clock
        self.max_backoff = max_backoff
        self.lease = timeout * 3
        self.client = client or httpx.Client(timeout=timeout.total_seconds())

    def deliver_due(self, limit: int = 100) -> int:
        """Send what is due; returns how many were delivered."""
        delivered = 0
        for delivery in self.outbox.claim(self.clock.now(), self.lease, limit):
            delivered += self._send(delivery)
        return delivered

    def _send(self, delivery: Delivery) -> bool:
        secret = self.secrets.get(delivery.target)
        status_code, error = None, None
        if secret is None:
            error = "target no longer configured"
        else:
            timestamp = str(int(self.clock.now().timestamp()))
            try:
                response = self.client.post(delivery.target, content=delivery.payload, headers={
                    "Content-Type": "application/json",
                    "X-Casetrail-Delivery": delivery.delivery_id,
                    "X-Casetrail-Event": delivery.event,
                    "X-Casetrail-Timestamp": timestamp,
                    "X-Casetrail-Signature": signature(secret, timestamp, delivery.payload),
                })
                status_code = response.status_code
                if not response.is_success:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as e:
                error = f"{type(e).__name__}: {e}"[:500]
        now = self.clock.now()
        retry_at = None if error is None else now + backoff(delivery.attempts + 1,
                                                            self.max_backoff)
        self.outbox.record_attempt(delivery, now, status_code, error, retry_at)
        if error:
            log.warning("webhook delivery %s failed: %s", delivery.delivery_id, error)
        return error is None
