"""The web console through the app, on both stores: sign-in (a one-time link, or the
identity provider's authorization-code flow against a local stand-in), the session
cookie and CSRF, the API's scoping, a case's timeline and as-of state, verification,
reports for people, and the API documentation served offline."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from application.app import CaseApplication
from domain.actors import Actor, Role
from domain.service_exceptions.values import Level
from infrastructure.clock import FrozenClock
from infrastructure.scheduler import SingleProcessLeadership, Workers
from infrastructure.settings import Settings
from tests.api.test_identity_provider import jwks, keycloak_token, provider
from tests.conftest import T0
from tests.factories import ctx, record
from tests.integration.test_reports import Month, month  # noqa: F401 - the fixture

AUDITOR = Actor("audit.1", (Role.AUDITOR,), None)


def console(settings: Settings, clock: FrozenClock, cases: CaseApplication) -> TestClient:
    """Over https: the session cookie is Secure."""
    return TestClient(create_app(settings, clock, cases), base_url="https://testserver")


def sign_in(client: TestClient, actor: Actor) -> Any:
    link = client.app.state.console.link(actor)  # type: ignore[attr-defined]
    return client.get(urlsplit(link)._replace(scheme="", netloc="").geturl(),
                      follow_redirects=False)


@pytest.fixture
def web(store_settings: Settings, clock: FrozenClock, cases: CaseApplication
        ) -> Iterator[TestClient]:
    with console(store_settings, clock, cases) as client:
        yield client


@pytest.mark.rule("SEC-AUTH-2")
def test_sec_auth_2_a_sign_in_link_works_once_and_the_console_scopes_as_the_api(
        web: TestClient, cases: CaseApplication, clock: FrozenClock) -> None:
    assert web.get("/console/cases", follow_redirects=False).headers["location"] == (
        "/console/sign-in?next=/console/cases")
    ours = record(ctx(clock.now()), department="after_sales", title="ours")
    theirs = record(ctx(clock.now()), department="delivery", title="theirs")
    cases.save_case(ours)
    cases.save_case(theirs)
    frontline = Actor("li.wei", (Role.FRONTLINE,), "after_sales")
    link = web.app.state.console.link(frontline)  # type: ignore[attr-defined]
    path = urlsplit(link)._replace(scheme="", netloc="").geturl()
    signed = web.get(path + "&next=/console/cases", follow_redirects=False)
    assert (signed.status_code, signed.headers["location"]) == (303, "/console/cases")
    cookie = signed.headers["set-cookie"].lower()
    for flag in ("httponly", "secure", "samesite=lax", "path=/console"):
        assert flag in cookie, flag
    listed = web.get("/console/cases").text
    assert "ours" in listed and "theirs" not in listed  # SEC-AUTH-2, as in the API
    assert web.get(f"/console/cases/{theirs.id}").status_code == 404
    assert web.get(f"/console/cases/{ours.id}").status_code == 200
    assert web.get(f"/console/cases/{ours.id}/export").status_code == 403  # not an exporter
    again = web.get(path, follow_redirects=False)
    assert again.status_code == 400 and "has been used" in again.text
    late = sign_in(web, frontline)
    assert late.status_code == 303
    clock.advance(timedelta(hours=8, minutes=1))  # the session has lapsed
    assert web.get("/console/cases", follow_redirects=False).status_code == 303
    stale = web.app.state.console.link(frontline)  # type: ignore[attr-defined]
    clock.advance(timedelta(minutes=16))
    expired = web.get(urlsplit(stale)._replace(scheme="", netloc="").geturl(),
                      follow_redirects=False)
    assert expired.status_code == 400 and "expired" in expired.text


def test_sign_out_needs_the_session_s_csrf_token_and_next_stays_in_the_console(
        web: TestClient) -> None:
    link = web.app.state.console.link(AUDITOR)  # type: ignore[attr-defined]
    path = urlsplit(link)._replace(scheme="", netloc="").geturl()
    away = web.get(path + "&next=//evil.example/console", follow_redirects=False)
    assert away.headers["location"] == "/console"  # never a redirect elsewhere
    home = web.get("/console").text
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', home).group(1)  # type: ignore[union-attr]
    forged = web.post("/console/sign-out", data={"csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403
    assert web.post("/console/sign-out", follow_redirects=False).status_code == 403
    out = web.post("/console/sign-out", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and 'casetrail_console=""' in out.headers["set-cookie"]


@pytest.mark.rule("AUD-2")
def test_aud_2_the_console_shows_a_case_as_of_any_instant_across_its_breach(
        web: TestClient, cases: CaseApplication, store_settings: Settings,
        clock: FrozenClock) -> None:
    """A critical exception entered late (backdated), its report-up breached by the
    sweep: before the breach the obligation is pending and the breach row is greyed as
    later; after it, breached. Verify names the signed checkpoint compared with."""
    entered = clock.now()
    case = record(ctx(entered, backdating_reason="called in by the site manager"),
                  level=Level.CRITICAL, discovered_at=entered - timedelta(minutes=20))
    cases.save_case(case)
    clock.advance(timedelta(minutes=30))
    assert Workers(cases, store_settings, SingleProcessLeadership()).sweep().breaches == 1
    sign_in(web, AUDITOR)

    def obligation_state(as_of: str) -> tuple[str, str]:
        page = web.get(f"/console/cases/{case.id}", params={"as_of": as_of}).text
        table = page[page.index('id="obligations"'):page.index('id="timeline"')]
        row = next(r for r in table.split("<tr") if "EX-ESC-1" in r)
        breach_row = next(r for r in page[page.index('id="timeline"'):].split("<tr")
                          if "ObligationBreached" in r)
        return (re.search(r'class="obligation-state">(\w+)<', row).group(1),  # type: ignore[union-attr]
                breach_row.split(">", 1)[0])

    local = entered.astimezone(cases.calendar.zone)
    before = obligation_state(f"{local + timedelta(minutes=5):%Y-%m-%dT%H:%M}")
    after = obligation_state(f"{local + timedelta(minutes=31):%Y-%m-%dT%H:%M}")
    assert before == ("pending", ' class="breach future"')
    assert after == ("breached", ' class="breach"')
    page = web.get(f"/console/cases/{case.id}").text
    assert "补录 backdated: discovered_at" in page and "called in by the site manager" in page
    assert "li.wei (frontline)" in page  # the actor and the role of each event
    earlier = web.get(f"/console/cases/{case.id}", params={"as_of": "2020-01-01T00:00"})
    assert earlier.status_code == 200 and "did not exist yet" in earlier.text
    assert web.get(f"/console/cases/{case.id}", params={"as_of": "yesterday"}).status_code == 422
    web.app.state.checkpoints.create(clock.now(), cases.verify_case)  # type: ignore[attr-defined]
    verified = web.get(f"/console/cases/{case.id}", params={"verify": "1"}).text
    assert re.search(r"2 events verify against signed checkpoint 1", verified), verified[-2000:]
    exported = web.get(f"/console/cases/{case.id}/export")
    assert exported.headers["content-disposition"] == f'attachment; filename="case-{case.id}.json"'
    assert exported.json()["verification"]["ok"] is True


@pytest.mark.rule("RPT-2")
def test_rpt_2_reports_for_people_state_their_period_in_percents_with_a_csv(
        month: Month, store_settings: Settings, cases: CaseApplication,  # noqa: F811
        clock: FrozenClock) -> None:
    with console(store_settings, clock, cases) as web:
        sign_in(web, Actor("boss", (Role.MANAGEMENT,), None))
        page = web.get("/console/reports/departments",
                       params={"from": "2026-11-01", "to": "2026-12-01"}).text
        assert "Period: 2026-11-01 00:00 – 2026-12-01 00:00" in page  # noqa: RUF001
        assert "exceptions counted by the date they were discovered" in page
        assert ">66.7 %<" in page and ">4.00<" in page
        assert "None" not in page and "2/3" not in page
        assert 'href="/console/reports/departments?from=2026-11-01&amp;to=2026-12-01&amp;' \
               'format=csv"' in page
        csv = web.get("/console/reports/departments",
                      params={"from": "2026-11-01", "to": "2026-12-01", "format": "csv"})
        assert csv.content.startswith("\ufeff".encode())
        assert "department-kpis-2026-11-01-2026-12-01.csv" in csv.headers["content-disposition"]
        monthly = web.get("/console/reports/monthly", params={"month": "2026-11"}).text
        assert "<svg" in monthly and "<script" not in monthly
        bad = web.get("/console/reports/weekly", params={"week": "2026-W99"})
        assert bad.status_code == 422 and "an ISO week such as 2026-W47" in bad.text


def test_api_docs_are_served_without_a_cdn(web: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = web.get(path).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert assets and all(a.startswith("/static/docs/") for a in assets), assets
        assert "http" not in "".join(assets)
        for asset in assets:
            assert web.get(asset).status_code == 200, asset


class StandInProvider:
    """An OIDC provider on loopback: the test plays the user at its authorize page;
    its token endpoint checks the code and the PKCE verifier and answers an ID token
    signed with the keys of the JWKS file casetrail trusts."""

    def __init__(self) -> None:
        self.grants: dict[str, dict[str, str]] = {}
        self.nonce: str | None = None
        """A nonce to answer instead of the one asked for (a replayed ID token)."""
        stand_in = self

        class Token(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(
                    int(self.headers["Content-Length"])).decode()).items()}
                grant = stand_in.grants.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "").encode()
                challenge = base64.urlsafe_b64encode(
                    hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
                if grant is None or grant["code_challenge"] != challenge:
                    body, status = b'{"error": "invalid_grant"}', 400
                else:
                    nonce = stand_in.nonce or grant["nonce"]
                    body, status = json.dumps({"id_token": keycloak_token(
                        aud="casetrail-console", nonce=nonce)}).encode(), 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Token)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.token_url = f"http://127.0.0.1:{self.server.server_port}/token"

    def authorize(self, location: str) -> tuple[str, str]:
        """The user signs in at the provider: its redirect back (code, state)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query["code_challenge_method"] == "S256"
        code = f"code-{len(self.grants)}"
        self.grants[code] = query
        return code, query["state"]


@pytest.mark.rule("SEC-AUTH-1")
def test_sec_auth_1_the_console_signs_in_with_the_identity_provider(
        store_settings: Settings, clock: FrozenClock, cases: CaseApplication,
        tmp_path: Path) -> None:
    clock.set(T0 + timedelta(minutes=5))  # type: ignore[attr-defined]
    keys = tmp_path / "jwks.json"
    keys.write_text(jwks())
    stand_in = StandInProvider()
    settings = store_settings.model_copy(update={"identity_provider": provider(
        jwks_file=keys, client_id="casetrail-console",
        authorization_url="https://sso.example.com/auth", token_url=stand_in.token_url)})
    try:
        with console(settings, clock, cases) as web:
            start = web.get("/console/sign-in", follow_redirects=False)
            assert start.headers["location"].startswith("https://sso.example.com/auth?")
            code, state = stand_in.authorize(start.headers["location"])
            forged = web.get("/console/oidc/callback",
                             params={"code": code, "state": "not-the-state"})
            assert forged.status_code == 400 and "state does not match" in forged.text
            code, state = stand_in.authorize(start.headers["location"])
            stand_in.nonce = "an-id-token-of-another-sign-in"
            replay = web.get("/console/oidc/callback", params={"code": code, "state": state})
            assert replay.status_code == 400 and "nonce does not match" in replay.text
            stand_in.nonce = None
            code, state = stand_in.authorize(start.headers["location"])
            done = web.get("/console/oidc/callback", params={"code": code, "state": state},
                           follow_redirects=False)
            assert (done.status_code, done.headers["location"]) == (303, "/console")
            home = web.get("/console").text
            assert "li.wei · frontline, auditor · after_sales" in home
            replayed = web.get("/console/oidc/callback", params={"code": code, "state": state})
            assert replayed.status_code == 400  # a code works once, at the provider
    finally:
        stand_in.server.shutdown()
