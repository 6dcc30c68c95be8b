"""Who is using the web console: the same identity as the API, carried in a cookie.

- **Session**: a JWT in a `Secure`, `HttpOnly`, `SameSite=Lax` cookie, signed with
  a key derived from the service secret for this purpose only (a session cookie is
  no API token, nor the reverse), expiring after `CASETRAIL_CONSOLE_SESSION_TTL`
  by the injected clock.
- **CSRF**: a form that posts carries a token bound to the session (an HMAC of its
  id); a post without the right one is refused.
- **Sign-in**, as the deployment has it: a one-time link printed by `casetrail
  console-link` (its id recorded when redeemed, so it works once, within 15
  minutes), or, where the identity provider names a console client, the OIDC
  authorization-code flow with PKCE; the provider's ID token is verified as API
  tokens from it are (issuer, audience, keys) and mapped to the same roles.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from domain.actors import Actor, Role
from domain.clock import Clock
from infrastructure.settings import IdentityProvider
from infrastructure.tokens import InvalidToken, TokenService

COOKIE = "casetrail_console"
FLOW_COOKIE = "casetrail_console_flow"
LINK_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class Session:
    actor: Actor
    id: str


def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"casetrail console {purpose}".encode(),
                    hashlib.sha256).digest()


class ConsoleAuth:
    def __init__(self, secret: str, clock: Clock, session_ttl: timedelta,
                 provider: IdentityProvider | None, tokens: TokenService,
                 base_url: str) -> None:
        self._keys = {p: _key(secret, p) for p in ("session", "link", "flow", "csrf")}
        self.clock, self.session_ttl = clock, session_ttl
        self.provider = provider if provider is not None and provider.signs_in_console else None
        self.tokens, self.base_url = tokens, base_url

    # --- signed claims ------------------------------------------------------------
    def _sign(self, purpose: str, claims: dict[str, Any], ttl: timedelta) -> str:
        now = self.clock.now()
        return jwt.encode({**claims, "typ": purpose, "iat": int(now.timestamp()),
                           "exp": int((now + ttl).timestamp()),
                           "jti": secrets.token_urlsafe(16)}, self._keys[purpose], "HS256")

    def _read(self, purpose: str, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._keys[purpose], algorithms=["HS256"],
                options={"require": ["exp", "jti", "typ"], "verify_exp": False})
        except jwt.PyJWTError as e:
            raise InvalidToken(str(e)) from None
        if claims["typ"] != purpose or claims["exp"] <= self.clock.now().timestamp():
            raise InvalidToken(f"the {purpose} has expired")
        return claims

    @staticmethod
    def _actor(claims: dict[str, Any]) -> Actor:
        return Actor(claims["sub"], tuple(Role(r) for r in claims["roles"]),
                     claims.get("department"))

    @staticmethod
    def _claims(actor: Actor) -> dict[str, Any]:
        return {"sub": actor.user, "roles": [r.value for r in actor.roles],
                "department": actor.department}

    # --- sessions -----------------------------------------------------------------
    def session_cookie(self, actor: Actor) -> str:
        return self._sign("session", self._claims(actor), self.session_ttl)

    def session(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            claims = self._read("session", cookie)
        except InvalidToken:
            return None
        return Session(self._actor(claims), claims["jti"])

    def csrf(self, session: Session) -> str:
        return hmac.new(self._keys["csrf"], session.id.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf(session), token)

    # --- one-time links -------------------------------------------------------------
    def link(self, actor: Actor) -> str:
        token = self._sign("link", self._claims(actor), LINK_TTL)
        return f"{self.base_url}/console/sign-in?{urlencode({'token': token})}"

    def redeem(self, token: str, redeem_once: Any) -> Actor:
        """The link's actor; `redeem_once(jti, user, at)` records it, False if used."""
        claims = self._read("link", token)
        if not redeem_once(claims["jti"], claims["sub"], self.clock.now()):
            raise InvalidToken("this sign-in link has been used: ask for a new one")
        return self._actor(claims)

    # --- OIDC authorization code with PKCE -------------------------------------------
    def authorization(self) -> tuple[str, str]:
        """The provider's sign-in URL, and the cookie that remembers the flow."""
        assert self.provider is not None
        verifier, state, nonce = (secrets.token_urlsafe(48), secrets.token_urlsafe(16),
                                  secrets.token_urlsafe(16))
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({"response_type": "code", "client_id": self.provider.client_id,
                           "redirect_uri": self.redirect_uri, "scope": "openid profile",
                           "state": state, "nonce": nonce, "code_challenge": challenge,
                           "code_challenge_method": "S256"})
        flow = self._sign("flow", {"state": state, "nonce": nonce, "verifier": verifier},
                          timedelta(minutes=10))
        return f"{self.provider.authorization_url}?{query}", flow

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/console/oidc/callback"

    def complete(self, flow_cookie: str | None, state: str, code: str) -> Actor:
        """Exchange the code for the provider's tokens and read the ID token."""
        assert self.provider is not None
        if not flow_cookie:
            raise InvalidToken("the sign-in was not started here (or took over 10 minutes)")
        flow = self._read("flow", flow_cookie)
        if not hmac.compare_digest(flow["state"], state):
            raise InvalidToken("the sign-in's state does not match")
        secret = self.provider.client_secret
        answer = httpx.post(str(self.provider.token_url), timeout=10, data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": self.redirect_uri, "client_id": self.provider.client_id,
            "code_verifier": flow["verifier"],
            **({"client_secret": secret.get_secret_value()} if secret else {})})
        if answer.status_code != 200 or "id_token" not in answer.json():
            raise InvalidToken(f"the identity provider refused the code ({answer.status_code})")
        actor, claims = self.tokens.verify_id_token(answer.json()["id_token"],
                                                    str(self.provider.client_id))
        if claims.get("nonce") != flow["nonce"]:
            raise InvalidToken("the ID token's nonce does not match")
        return actor
