"""API tokens: HS256 JWTs with the claims of API.md (`sub`, `roles`, `department`),
issued by `casetrail token`; and, where an identity provider is configured, its
RS256/ES256 tokens, verified against its published keys (JWKS), its issuer and
audience, with its claims mapped to a user, roles and a department (SEC-AUTH-1).
Either way a token must name a user and carry numeric `iat` and `exp`.

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
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWKClient, PyJWKSet

from domain.actors import Actor, Role
from domain.clock import Clock
from infrastructure.key_files import key_material
from infrastructure.settings import IdentityProvider, Settings

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The credential is missing, malformed, badly signed, expired or names unknown roles."""


def resolve_secret(settings: Settings) -> str:
    """The configured secret, or one generated once into `secret_key_file` so that
    `casetrail token` and `casetrail serve` agree on the embedded default."""
    return key_material(settings.secret_key, settings.secret_key_file,
                        lambda: secrets.token_urlsafe(48))


class TokenService:
    def __init__(self, secret: str, clock: Clock, issuer: str = "casetrail",
                 provider: IdentityProvider | None = None) -> None:
        self._secret = secret
        self._clock = clock
        self._issuer = issuer
        self._provider = provider
        self._keys = ProviderKeys(provider) if provider else None
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

    def verify_id_token(self, token: str, client_id: str) -> tuple[Actor, dict[str, Any]]:
        """An OIDC ID token for the web console's client: signed with the provider's
        keys, from its issuer, addressed to the client (`aud`), unexpired; its actor
        mapped as the provider's API tokens are."""
        if self._provider is None or self._keys is None:
            raise InvalidToken("no identity provider is configured")
        try:
            actor, claims = self._from_provider(
                token, self._provider.model_copy(update={"audience": client_id}), self._keys)
        except jwt.PyJWTError as e:
            raise InvalidToken(str(e)) from None
        if claims["exp"] <= self._clock.now().timestamp():
            raise InvalidToken("the ID token has expired")
        return actor, claims

    def _verify_signed(self, token: str) -> tuple[Actor, float]:
        """The token's actor and expiry, once its signature and claims check out."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm == ALGORITHM:
                claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM],
                                    issuer=self._issuer, options=_OPTIONS)
                actor = Actor(user=_user(claims.get("sub")), roles=_own_roles(claims),
                              department=_department(claims.get("department")))
            elif self._provider and self._keys and algorithm in self._provider.algorithms:
                actor, claims = self._from_provider(token, self._provider, self._keys)
            else:
                raise InvalidToken(f"tokens signed with {algorithm} are not accepted")
        except jwt.PyJWTError as e:
            raise InvalidToken(str(e)) from None
        for name in ("exp", "iat"):
            if isinstance(claims[name], bool) or not isinstance(claims[name], int | float):
                raise InvalidToken(f"the token's {name} is not a number")
        return actor, claims["exp"]

    @staticmethod
    def _from_provider(token: str, provider: IdentityProvider,
                       keys: ProviderKeys) -> tuple[Actor, dict[str, Any]]:
        claims = jwt.decode(
            token, keys.for_token(token), algorithms=list(provider.algorithms),
            issuer=provider.issuer, audience=provider.audience,
            options=_OPTIONS | {"verify_aud": provider.audience is not None,
                                "require": [*_OPTIONS["require"], "aud"]
                                if provider.audience else _OPTIONS["require"]})
        names = _path(claims, provider.roles_claim)
        if not isinstance(names, list):
            raise InvalidToken(f"the token has no list of roles at {provider.roles_claim}")
        known = {r.value: r for r in Role}
        roles = tuple(dict.fromkeys(
            provider.role_map[n] if provider.role_map else known[n] for n in names
            if isinstance(n, str) and (n in provider.role_map if provider.role_map
                                       else n in known)))
        if not roles:
            raise InvalidToken("the token names no casetrail role")
        return Actor(user=_user(_path(claims, provider.user_claim)), roles=roles,
                     department=_department(_path(claims, provider.department_claim))), claims


_OPTIONS: dict[str, Any] = {"require": ["sub", "exp", "iat", "iss"], "verify_exp": False,
                            "verify_iat": False}
"""Expiry is checked against the injected clock on every use (see `verify`)."""


def _user(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidToken("the token names no user")
    return value


def _department(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


def _own_roles(claims: dict[str, Any]) -> tuple[Role, ...]:
    raw = claims.get("roles")
    if not isinstance(raw, list) or not raw:
        raise InvalidToken("the token names no roles")
    try:
        return tuple(Role(r) for r in raw)
    except ValueError as e:
        raise InvalidToken(f"the token names an unknown role: {e}") from None


def _path(claims: dict[str, Any], dotted: str) -> Any:
    """A claim by a dotted path: `realm_access.roles`."""
    value: Any = claims
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class ProviderKeys:
    """The identity provider's signing keys: fetched (and cached) from its JWKS URL by
    PyJWT's client, or read from a JWKS file, read again when a token names a key
    the file did not hold (a rotation)."""

    def __init__(self, provider: IdentityProvider) -> None:
        self._client = PyJWKClient(str(provider.jwks_url), lifespan=300) \
            if provider.jwks_url else None
        self._file = provider.jwks_file
        self._set: PyJWKSet | None = None

    def for_token(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        kid = jwt.get_unverified_header(token).get("kid")
        for attempt in range(2):
            if self._set is None or attempt:
                self._set = self._read(self._file)
            found = [k for k in self._set.keys if kid is None or k.key_id == kid]
            if len(found) == 1:
                return found[0].key
        raise InvalidToken(f"no key {kid!r} in the identity provider's keys")

    @staticmethod
    def _read(file: Path | None) -> PyJWKSet:
        try:
            return PyJWKSet.from_json(file.read_text(encoding="utf-8"))  # type: ignore[union-attr]
        except (OSError, jwt.PyJWTError) as e:
            raise InvalidToken(f"the identity provider's keys cannot be read: {e}") from None
