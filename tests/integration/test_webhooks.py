"""Signed webhooks for warnings and breaches, delivered from the outbox: each
exactly once per delivery id, retried through a receiver outage, nothing lost
across a restart of the worker."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from application.app import CaseApplication
from domain.service_exceptions.values import Level, reporting_chain
from infrastructure.bootstrap import build_application, init_schema
from infrastructure.clock import FrozenClock
from infrastructure.scheduler import SingleProcessLeadership, Workers
from infrastructure.settings import Settings, WebhookTarget
from infrastructure.webhooks import backoff, signature
from projections.outbox import OutboxProjection
from tests.conftest import T0
from tests.factories import (
    approve,
    ctx,
    investigate,
    propose,
    record,
    report_up,
    resolve,
    start_response,
)
from tests.reliability.processes import free_port

SECRET = "receiver-secret-0123456789"


class Receiver:
    """A webhook receiver on loopback that answers with the scripted statuses."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[int, dict[str, str], str]] = []
        self.script: list[int] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                status = receiver.script.pop(0) if receiver.script else 200
                receiver.received.append((status, dict(self.headers), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self) -> list[tuple[dict[str, str], str]]:
        return [(h, b) for status, h, b in self.received if status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    yield r
    r.stop()


def workers_for(settings: Settings, clock: FrozenClock) -> tuple[CaseApplication, Workers]:
    cases = build_application(settings, clock)
    return cases, Workers(cases, settings, SingleProcessLeadership())


@pytest.mark.rule("SLA-2")
def test_breaches_are_delivered_signed_once_each_through_an_outage_and_a_restart(
        store_settings: Settings, receiver: Receiver) -> None:
    target = WebhookTarget(url=f"http://127.0.0.1:{receiver.port}/hooks", secret=SECRET)
    settings = store_settings.model_copy(update={"webhooks": [target]})
    init_schema(settings)
    clock = FrozenClock(T0)
    cases, workers = workers_for(settings, clock)
    for _ in range(3):
        case = record(ctx(clock.now()), level=Level.CRITICAL)
        cases.save_case(case)
    clock.advance(timedelta(minutes=31))
    assert workers.sweep().breaches == 3

    # The receiver is down: every attempt fails, is logged, and is kept for later.
    assert workers.deliver() == 0
    assert {d["status"] for d in workers.outbox.deliveries()} == {"pending"}
    assert len(workers.outbox.attempts_log()) == 3

    # The worker restarts (new objects, same database); the receiver comes back
    # failing once, then accepting.
    cases.close()
    cases, workers = workers_for(settings, clock)
    receiver.script = [503]
    receiver.start()
    assert workers.deliver() == 0  # still backing off
    clock.advance(backoff(1, timedelta(hours=1)))
    assert workers.deliver() == 2  # one got the 503
    clock.advance(backoff(2, timedelta(hours=1)))
    assert workers.deliver() == 1
    clock.advance(timedelta(hours=2))
    assert workers.deliver() == 0  # nothing is sent twice

    accepted = receiver.accepted()
    delivery_ids = [h["X-Casetrail-Delivery"] for h, _ in accepted]
    assert len(delivery_ids) == len(set(delivery_ids)) == 3
    for headers, body in accepted:
        assert headers["X-Casetrail-Signature"] == signature(
            SECRET, headers["X-Casetrail-Timestamp"], body)
        assert headers["X-Casetrail-Event"] == "obligation.breached"
        payload = json.loads(body)
        assert payload["rule"] == "EX-ESC-1" and payload["delivery_id"] == headers[
            "X-Casetrail-Delivery"]
    assert {d["status"] for d in workers.outbox.deliveries()} == {"delivered"}
    log = workers.outbox.attempts_log()
    assert [e["status_code"] for e in log].count(503) == 1
    assert len(log) == 3 + 1 + 3  # down, 503, accepted

    # A replay of the log adds no delivery and sends nothing again.
    workers.outbox_runner.rebuild()
    assert workers.deliver() == 0
    assert len(workers.outbox.deliveries()) == 3
    cases.close()


@pytest.mark.rule("SLA-2")
def test_warnings_go_to_targets_that_asked_for_them(store_settings: Settings,
                                                    receiver: Receiver) -> None:
    wants_warnings = WebhookTarget(url=f"http://127.0.0.1:{receiver.port}/warn", secret=SECRET,
                                   events=["obligation.warned"])
    settings = store_settings.model_copy(update={"webhooks": [wants_warnings]})
    init_schema(settings)
    clock = FrozenClock(T0)
    cases, workers = workers_for(settings, clock)
    receiver.start()
    cases.save_case(record(ctx(clock.now()), level=Level.MAJOR))
    clock.advance(timedelta(minutes=91))  # 75 % of the two hours to report up
    assert workers.sweep().warnings == 1
    assert workers.deliver() == 1
    clock.advance(timedelta(minutes=30))
    assert workers.sweep().breaches == 1
    assert workers.deliver() == 0  # breaches were not asked for
    [(headers, body)] = receiver.accepted()
    assert headers["X-Casetrail-Event"] == "obligation.warned"
    assert json.loads(body)["key"] == "EX-ESC-1@v1"
    cases.close()


@pytest.mark.rule("EX-CHAIN-1")
def test_ex_chain_1_each_report_up_notifies_its_recipients_and_the_result_goes_back_down(
        store_settings: Settings, receiver: Receiver) -> None:
    """A critical case reported link by link, then resolved: one signed
    `exception.reported` per link naming its recipients, and one
    `exception.resolved` addressed down the chain. No report text, summary or
    contact travels in them."""
    target = WebhookTarget(url=f"http://127.0.0.1:{receiver.port}/hooks", secret=SECRET)
    settings = store_settings.model_copy(update={"webhooks": [target]})
    init_schema(settings)
    clock = FrozenClock(T0)
    cases, workers = workers_for(settings, clock)
    receiver.start()
    case = record(ctx(clock.now()), level=Level.CRITICAL)
    for by, to in reporting_chain(Level.CRITICAL):
        report_up(case, ctx(clock.now(), by, user=f"{by.value}.user"), *to)
    start_response(case, clock.now())
    investigate(case, clock.now())
    approve(case, propose(case, clock.now()), clock.now())
    resolve(case, clock.now())
    cases.save_case(case)

    assert workers.deliver() == 4
    sent = sorted(((h["X-Casetrail-Event"], json.loads(b), b) for h, b in receiver.accepted()),
                  key=lambda s: int(s[1]["event_id"].split("/")[1]))  # sent in any order
    assert [kind for kind, _, _ in sent] == ["exception.reported"] * 3 + ["exception.resolved"]
    reported = [payload for kind, payload, _ in sent if kind == "exception.reported"]
    assert [(p["link"]["from"], p["recipients"], p["reported_by"]) for p in reported] == [
        ("frontline", ["department_head"], "frontline.user"),
        ("department_head", ["cs_head"], "department_head.user"),
        ("cs_head", ["group_leader", "principal"], "cs_head.user"),
    ]
    resolved = sent[-1][1]
    assert resolved["case_id"] == str(case.id) and resolved["level"] == "critical"
    assert resolved["recipients"] == ["cs_head", "department_head", "frontline"]
    assert resolved["resolved_at"] == clock.now().isoformat()
    for _, _, body in sent:
        assert not [text for text in ("Wang Fang", "cell down", "firmware rolled back", "+86")
                    if text in body]

    # A target that asked only for breaches is not told.
    only_breaches = WebhookTarget(url=f"http://127.0.0.1:{receiver.port}/b", secret=SECRET,
                                  events=["obligation.breached"])
    assert OutboxProjection(cases, workers.outbox, [only_breaches])._deliveries(
        cases.events.get(case.id, gt=1, lte=2).__next__()) == []
    cases.close()
