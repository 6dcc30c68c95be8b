"""API tokens: HS256 JWTs with the claims of API.md (`sub`, `roles`, `department`).

Expiry is checked against the injected clock (CAL-6), not the system time, so a
frozen-clock test and a running service agree on what has expired.

A client sends the same token with every request, so a verified token is
remembered (its actor and expiry; never a refusal): checking the signature again
cost PyJWT about as much CPU as a small request's own work. Expiry is checked on
every use.
"""

from __future__ import annotations

import functools
import secrets
from datetime import timedelta

import jwt

from domain.actors import Actor, Role
from domain.clock import Clock
from infrastructure.key_files import key_material
from infrastructure.settings import Settings

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The credential is missing, malformed, badly signed, expired or names unknown roles."""


def resolve_secret(settings: Settings) -> str:
    """The configured secret, or one generated once into `secret_key_file` so that
    `casetrail token` and `casetrail serve` agree on the embedded default."""
    return key_material(settings.secret_key, settings.secret_key_file,
                        lambda: secrets.token_urlsafe(48))


class TokenService:
    def __init__(self, secret: str, clock: Clock, issuer: str = "casetrail") -> None:
        self._secret = secret
        self._clock = clock
        self._issuer = issuer
        self._verified = functools.lru_cache(maxsize=4096)(self._verify_signed)

    def issue(
        self,
        user: str,
        roles: list[Role],
        department: str | None = None,
        ttl: timedelta = timedelta(hours=8),
    ) -> str:
        if not user:
            msg = "user must not be empty"
            raise ValueError(msg)
        if not roles:
            msg = "at least one role is needed"
            raise ValueError(msg)
        now = self._clock.now()
        claims = {
            "sub": user,
            "roles": [role.value for role in roles],
            "iss": self._issuer,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        if department:
            claims["department"] = department
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Actor:
        actor, expires = self._verified(token)
        if expires <= self._clock.now().timestamp():
            raise InvalidToken("the token has expired")
        return actor

    def _verify_signed(self, token: str) -> tuple[Actor, float]:
        """The token's actor and expiry, once its signature and claims check out."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["sub", "exp", "iat", "iss"], "verify_exp": False,
                         "verify_iat": False},
            )
        except jwt.PyJWTError as e:
            raise InvalidToken(str(e)) from None
        if not isinstance(claims["exp"], int | float):
            raise InvalidToken("the token's exp is not a number")
        raw_roles = claims.get("roles")
        if not isinstance(raw_roles, list) or not raw_roles:
            raise InvalidToken("the token names no roles")
        try:
            roles = tuple(Role(r) for r in raw_roles)
        except ValueError as e:
            raise InvalidToken(f"the token names an unknown role: {e}") from None
        department = claims.get("department")
        return Actor(user=str(claims["sub"]), roles=roles,
                     department=str(department) if department else None), claims["exp"]
