"""SEC-AUTH-1 with the company's identity provider: RS256 and ES256 tokens verified
against its keys (a JWKS file, or a JWKS URL served here by a local stand-in),
its issuer and audience, with Keycloak-style claims mapped to casetrail's user,
roles and department; and what no token may lack."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from domain.actors import Role
from infrastructure.clock import FrozenClock
from infrastructure.settings import IdentityProvider
from infrastructure.tokens import InvalidToken, TokenService
from tests.conftest import SECRET, T0

ISSUER = "https://sso.example.com/realms/integrator"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwks() -> str:
    keys = []
    for kid, key, alg in (("r1", RSA_KEY, "RS256"), ("e1", EC_KEY, "ES256")):
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
        keys.append(jwk | {"kid": kid, "use": "sig", "alg": alg})
    return json.dumps({"keys": keys})


def keycloak_token(kid: str = "r1", **claims: Any) -> str:
    key, alg = (RSA_KEY, "RS256") if kid == "r1" else (EC_KEY, "ES256")
    now = int(T0.timestamp())
    body = {"iss": ISSUER, "aud": "casetrail", "sub": "f:3c9a:li.wei",
            "preferred_username": "li.wei", "iat": now, "exp": now + 3600,
            "realm_access": {"roles": ["offline_access", "cs-frontline", "cs-auditor"]},
            "dept": "after_sales"} | claims
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def provider(**settings: Any) -> IdentityProvider:
    return IdentityProvider(**({
        "issuer": ISSUER, "audience": "casetrail", "user_claim": "preferred_username",
        "roles_claim": "realm_access.roles", "department_claim": "dept",
        "role_map": {"cs-frontline": "frontline", "cs-auditor": "auditor"}} | settings))


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(jwks())
    return path


@pytest.fixture
def jwks_url() -> Iterator[str]:
    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = jwks().encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/certs"
    server.shutdown()


@pytest.mark.rule("SEC-AUTH-1")
@pytest.mark.parametrize("kid", ["r1", "e1"])
def test_sec_auth_1_a_providers_token_maps_to_user_roles_and_department(
        kid: str, jwks_file: Path) -> None:
    tokens = TokenService(SECRET, FrozenClock(T0), provider=provider(jwks_file=jwks_file))
    actor = tokens.verify(keycloak_token(kid))
    assert (actor.user, actor.roles, actor.department) == (
        "li.wei", (Role.FRONTLINE, Role.AUDITOR), "after_sales")
    own = tokens.issue("zhao", [Role.DEPARTMENT_HEAD], "delivery")
    assert tokens.verify(own).user == "zhao"  # casetrail's own tokens still work


@pytest.mark.rule("SEC-AUTH-1")
def test_sec_auth_1_keys_fetched_from_the_providers_jwks_url(jwks_url: str) -> None:
    tokens = TokenService(SECRET, FrozenClock(T0), provider=provider(jwks_url=jwks_url))
    assert tokens.verify(keycloak_token("e1")).user == "li.wei"


@pytest.mark.rule("SEC-AUTH-1")
@pytest.mark.parametrize(("claims", "why"), [
    ({"iss": "https://elsewhere.example.com"}, "issuer"),
    ({"aud": "another-app"}, "Audience"),
    ({"realm_access": {"roles": ["offline_access"]}}, "no casetrail role"),
    ({"preferred_username": ""}, "no user"),
    ({"iat": "yesterday"}, "iat is not a number"),
    ({"exp": int(T0.timestamp()) - 1}, "expired"),
])
def test_sec_auth_1_a_providers_token_is_refused_when(
        claims: dict[str, Any], why: str, jwks_file: Path) -> None:
    tokens = TokenService(SECRET, FrozenClock(T0), provider=provider(jwks_file=jwks_file))
    with pytest.raises(InvalidToken, match=why.split()[-1]):
        tokens.verify(keycloak_token(**claims))


@pytest.mark.rule("SEC-AUTH-1")
def test_sec_auth_1_foreign_keys_and_algorithms_are_refused(jwks_file: Path) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"iss": ISSUER, "sub": "x"}, stranger, algorithm="RS256",
                        headers={"kid": "r1"})
    with_provider = TokenService(SECRET, FrozenClock(T0), provider=provider(jwks_file=jwks_file))
    with pytest.raises(InvalidToken):
        with_provider.verify(forged)
    without = TokenService(SECRET, FrozenClock(T0))
    with pytest.raises(InvalidToken, match="RS256 are not accepted"):
        without.verify(keycloak_token())


@pytest.mark.rule("SEC-AUTH-1")
@pytest.mark.parametrize(("claims", "why"), [({"sub": ""}, "no user"),
                                             ({"iat": "now"}, "iat is not a number")])
def test_sec_auth_1_own_tokens_need_a_user_and_numeric_times(
        claims: dict[str, Any], why: str) -> None:
    now = int(T0.timestamp())
    token = jwt.encode({"sub": "u", "roles": ["frontline"], "iss": "casetrail", "iat": now,
                        "exp": now + 60} | claims, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken, match=why):
        TokenService(SECRET, FrozenClock(T0)).verify(token)


def test_a_provider_needs_exactly_one_source_of_keys() -> None:
    with pytest.raises(ValueError, match="jwks_url or jwks_file"):
        IdentityProvider(issuer=ISSUER)


@pytest.mark.rule("SEC-AUTH-1")
def test_sec_auth_1_the_api_accepts_the_providers_tokens_configured_by_environment(
        jwks_file: Path, store_settings, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from infrastructure.bootstrap import init_schema
    from infrastructure.settings import Settings

    for name, value in {"ISSUER": ISSUER, "AUDIENCE": "casetrail",
                        "JWKS_FILE": str(jwks_file), "USER_CLAIM": "preferred_username",
                        "ROLES_CLAIM": "realm_access.roles", "DEPARTMENT_CLAIM": "dept",
                        "ROLE_MAP": json.dumps({"cs-frontline": "frontline"})}.items():
        monkeypatch.setenv(f"CASETRAIL_IDENTITY_PROVIDER__{name}", value)
    settings = Settings(**{k: v for k, v in store_settings.model_dump().items()
                           if k != "identity_provider"})
    assert settings.identity_provider is not None
    init_schema(settings)
    with TestClient(create_app(settings, clock)) as client:
        answer = client.get("/v1/exceptions",
                            headers={"Authorization": f"Bearer {keycloak_token()}"})
        assert answer.status_code == 200, answer.text
        refused = client.get("/v1/exceptions", headers={
            "Authorization": f"Bearer {keycloak_token(aud='another-app')}"})
        assert refused.status_code == 401
