"""AUD-2 as a property, for every case type: for random histories (commands, sweeps
recording breaches, and the clock running between them), what a client read at any
instant t is what an auditor reads later with `?as_of=t`, and what it read right
after a command is what `?version=N` shows. Time-dependent states (pending,
breached, met) are judged at that instant, never at the time of reading."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.app import CaseApplication
from application.sla import sweep
from domain.actors import Role
from infrastructure.clock import FrozenClock
from projections.obligations import ObligationsProjection, construct_view
from projections.runtime import ViewRunner
from tests.api.conftest import bearer
from tests.factories import open_body

LONG = timedelta(days=3650)
Step = tuple[int, str]


def _exception(client: TestClient, token: Callable[..., str], clock: FrozenClock
               ) -> tuple[str, dict[str, Callable[[], Any]]]:
    frontline = bearer(token("li.wei", Role.FRONTLINE, ttl=LONG))
    head = bearer(token("zhao", Role.DEPARTMENT_HEAD, ttl=LONG))
    created = client.post("/v1/exceptions", headers=frontline, json=open_body(
        level="general", discovered_at=(clock.now() - timedelta(minutes=10)).isoformat()))
    href = created.headers["location"]
    return href, {
        "report": lambda: client.post(f"{href}/reports", headers=frontline, json={
            "reported_to": ["department_head"], "reported_at": clock.now().isoformat(),
            "details": "cell 3 down"}),
        "respond": lambda: client.post(f"{href}/responses", headers=head,
                                       json={"handler": "zhang.san"}),
        "resolve": lambda: client.post(f"{href}/resolution", headers=frontline,
                                       json={"summary": "running again"}),
    }


def _survey(client: TestClient, token: Callable[..., str], clock: FrozenClock
            ) -> tuple[str, dict[str, Callable[[], Any]]]:
    cs = bearer(token("qian", Role.CS_HEAD, ttl=LONG))
    boss = bearer(token("boss", Role.MANAGEMENT, ttl=LONG))
    created = client.post("/v1/surveys", headers=cs, json={
        "survey_type": "quarterly", "title": "Q4 2026 satisfaction",
        "plan": {"goals": "measure Q4", "period_start": "2026-10-01",
                 "period_end": "2026-12-31", "scope": "Q4 customers",
                 "channels": ["online"], "owners": ["qian"], "budget": "CNY 20k"}})
    href = created.headers["location"]
    return href, {"approve": lambda: client.post(f"{href}/plan-approval", headers=boss,
                                                 json={})}


def _action(client: TestClient, token: Callable[..., str], clock: FrozenClock
            ) -> tuple[str, dict[str, Callable[[], Any]]]:
    boss = bearer(token("boss", Role.MANAGEMENT, ttl=LONG))
    unit = bearer(token("zhang", Role.IMPLEMENTATION, ttl=LONG))
    created = client.post("/v1/corrective-actions", headers=boss, json={
        "severity": "key", "title": "Spare parts", "description": "late parts",
        "department": "after_sales", "review": "management review 2026-Q4"})
    href = created.headers["location"]
    return href, {
        "assign": lambda: client.post(f"{href}/assignment", headers=boss,
                                      json={"unit": "implementation", "person": "zhang"}),
        "plan": lambda: client.post(f"{href}/plans", headers=unit, json={
            "measures": ["stock parts"], "responsible_person": "zhang",
            "horizon_end": (clock.now() + timedelta(days=30)).date().isoformat()}),
    }


OPENERS = {"exception": _exception, "survey": _survey, "corrective_action": _action}
COMMANDS = {"exception": ["report", "respond", "resolve"], "survey": ["approve"],
            "corrective_action": ["assign", "plan"]}


def histories(case_type: str) -> st.SearchStrategy[list[Step]]:
    """Minutes the clock runs, then what happens: a command, a sweep, or a read."""
    what = st.sampled_from([*COMMANDS[case_type], "sweep", "read", "read"])
    return st.lists(st.tuples(st.integers(1, 60 * 30), what), min_size=1, max_size=8)


@pytest.mark.rule("AUD-2")
@pytest.mark.parametrize("case_type", list(OPENERS))
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_aud_2_an_as_of_read_is_what_a_client_read_at_that_instant(
        case_type: str, data: st.DataObject, client: TestClient, cases: CaseApplication,
        clock: FrozenClock, make_token: Callable[..., str]) -> None:
    auditor = bearer(make_token("audit.1", Role.AUDITOR, ttl=LONG))
    view = construct_view(cases)
    runner = ViewRunner(cases, ObligationsProjection(cases, view))
    href, commands = OPENERS[case_type](client, make_token, clock)
    seen: list[tuple[str, str | None, Any]] = []  # (instant, version recorded then, body)

    def read() -> None:
        response = client.get(href, headers=auditor)
        assert response.status_code == 200, response.text
        version = response.headers["etag"].strip('"')
        recorded_now = not seen or version != seen[-1][2]["version"].__str__()
        seen.append((clock.now().isoformat(), version if recorded_now else None,
                     response.json()))

    read()
    for minutes, what in data.draw(histories(case_type)):
        clock.advance(timedelta(minutes=minutes))
        if what == "sweep":
            runner.catch_up()
            sweep(cases, view)
        elif what in commands:
            commands[what]()  # refused or not: either way a history
        read()
    clock.advance(timedelta(days=400))
    for instant, version, body in seen:
        as_of = client.get(f"{href}?as_of={quote(instant)}", headers=auditor)
        assert as_of.json() == body, instant
        if version is not None:
            at_version = client.get(f"{href}?version={version}", headers=auditor)
            assert at_version.json() == body, version
