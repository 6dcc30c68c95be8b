"""Settings (pydantic-settings): `CASETRAIL_*` environment variables, then an optional
TOML file named by `CASETRAIL_CONFIG_FILE`, then the defaults below.

Nested values use `__`: `CASETRAIL_POLICY__EXCEPTIONS__REPORT_UP_MAJOR=PT3H`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from domain.actors import Role
from domain.policy import Policy

CONFIG_FILE_ENV = "CASETRAIL_CONFIG_FILE"


class CalendarSettings(BaseModel):
    """CAL-1..CAL-3."""

    timezone: str = "Asia/Shanghai"
    country: str = "CN"
    close_of_business: time | None = Field(
        default=time(18, 0), description='CAL-3 close of business; "24:00" for none')
    closures: list[date] = Field(default_factory=list, description="extra company closures")
    extra_working_days: list[date] = Field(default_factory=list)

    @field_validator("close_of_business", mode="before")
    @classmethod
    def _midnight(cls, value: object) -> object:
        """"24:00" (no business hours) ends a working day at midnight (CAL-3)."""
        return None if value in ("24:00", "24:00:00") else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            msg = f"unknown time zone {value!r}"
            raise ValueError(msg) from e
        return value


WebhookEvent = Literal["obligation.warned", "obligation.breached", "exception.reported",
                       "exception.resolved"]


class WebhookTarget(BaseModel):
    """A receiver of notifications (SLA warnings and breaches, EX-CHAIN-1 reports up
    and results), signed with HMAC-SHA256 under its own secret."""

    url: AnyHttpUrl
    secret: SecretStr = Field(min_length=16)
    events: list[WebhookEvent] = Field(default_factory=lambda: list(get_args(WebhookEvent)))


class IdentityProvider(BaseModel):
    """Tokens from the company's identity provider (an OIDC provider such as Keycloak):
    RS256/ES256, verified against its published keys, with its issuer and audience,
    and where its tokens keep the user, the roles and the department."""

    jwks_url: AnyHttpUrl | None = Field(
        default=None, description="the provider's JWKS (OIDC discovery's `jwks_uri`)")
    jwks_file: Path | None = Field(default=None, description="or its keys as a JWKS file")
    issuer: str = Field(description="the `iss` its tokens carry")
    audience: str | None = Field(default=None, description="the `aud` required, if any")
    algorithms: list[Literal["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]] = Field(
        default_factory=lambda: ["RS256", "ES256"])
    user_claim: str = "sub"
    roles_claim: str = Field(default="roles", description='a dotted path, e.g. Keycloak\'s '
                             '"realm_access.roles"')
    department_claim: str = "department"
    role_map: dict[str, Role] = Field(
        default_factory=dict, description="the provider's role names to casetrail's; "
        "empty: the names are casetrail's own. Unmapped names are ignored")
    client_id: str | None = Field(default=None, description=(
        "the web console's client at the provider: set it (with the two URLs) and the "
        "console signs people in with the authorization-code flow (PKCE)"))
    client_secret: SecretStr | None = Field(default=None, description="for a confidential client")
    authorization_url: AnyHttpUrl | None = Field(
        default=None, description="OIDC discovery's `authorization_endpoint`")
    token_url: AnyHttpUrl | None = Field(
        default=None, description="OIDC discovery's `token_endpoint`")

    @model_validator(mode="after")
    def _keys(self) -> IdentityProvider:
        if (self.jwks_url is None) == (self.jwks_file is None):
            msg = "give jwks_url or jwks_file"
            raise ValueError(msg)
        console = (self.client_id, self.authorization_url, self.token_url)
        if any(v is not None for v in console) and None in console:
            msg = "the console's sign-in needs client_id, authorization_url and token_url"
            raise ValueError(msg)
        return self

    @property
    def signs_in_console(self) -> bool:
        return self.client_id is not None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CASETRAIL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL DSN (postgresql://user:pass@host:5432/db); unset means SQLite",
    )
    postgres_schema: str = "public"
    postgres_lock_timeout: int = Field(default=5, ge=1, description="seconds")
    postgres_pool_size: int = Field(default=5, ge=1)
    postgres_max_overflow: int = Field(default=10, ge=0)
    postgres_connect_timeout: int = Field(default=5, ge=1, description="seconds")
    home: Path = Field(default=Path("var"), description=(
        "CASETRAIL_HOME: the data directory; the SQLite file and the key and witness "
        "files default to it. Made absolute when the process starts, so every command "
        "finds the same files from any working directory"))
    sqlite_path: Path = Field(default=Path("var/casetrail.sqlite3"),
                              description="default: <home>/casetrail.sqlite3")
    sqlite_lock_timeout: int = Field(default=5, ge=1, description="seconds")
    sqlite_pool_timeout: int = Field(default=5, ge=1, description=(
        "seconds a request waits for one of the embedded store's pooled connections"))

    secret_key: SecretStr | None = Field(
        default=None,
        description="HS256 key for API tokens; unset means one generated in var/secret.key",
    )
    secret_key_file: Path = Path("var/secret.key")
    token_issuer: str = "casetrail"
    identity_provider: IdentityProvider | None = Field(
        default=None, description="also accept the tokens of this identity provider")
    signing_key: SecretStr | None = Field(
        default=None, description="Ed25519 private key for checkpoints, 32 bytes as hex; "
        "unset means one generated in var/signing.key")
    signing_key_file: Path = Path("var/signing.key")
    master_key: SecretStr | None = Field(
        default=None, description="the first key-encryption key (version 1), 64 hex digits; "
        "unset means the one in master_key_file, or one generated")
    master_key_file: Path = Path("var/master.key")
    kek_dir: Path | None = Field(
        default=None, description="the versioned key-encryption keys that wrap each "
        "customer's data key (RET-4), shared by every process; unset means a `keks` "
        "directory beside master_key_file")
    snapshot_interval: int = Field(
        default=50, ge=2, description="snapshot a case every N events (fast as-of reads)")
    case_cache_size: int = Field(
        default=1000, ge=0, description="cases each process remembers as its commands left "
        "them, so a command on one is one round trip (the save); 0 turns it off")
    gc_threshold: int = Field(
        default=50_000, ge=700, description="allocations between collections of the "
        "garbage collector's youngest generation (Python's default 700); see "
        "docs/OPERATIONS.md")
    view_batch_size: int = Field(
        default=500, ge=1, description="events a view applies per transaction when catching up")
    checkpoint_interval: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    witness_file: Path | None = Field(
        default=Path("var/checkpoints.jsonl"),
        description="append-only file each signed checkpoint is published to (AUD-5); "
        "put it where the database's operators cannot rewrite it")
    witness_url: str | None = Field(
        default=None, description="optional webhook each signed checkpoint is POSTed to")
    purge_interval: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))
    idempotency_retention: timedelta = Field(
        default=timedelta(days=7), gt=timedelta(0),
        description="how long a repeated Idempotency-Key replays its first answer")
    report_interval: timedelta = Field(
        default=timedelta(hours=1), gt=timedelta(0),
        description="how often the scheduler checks for a week or month to report (RPT-1)")
    survey_trigger_interval: timedelta = Field(
        default=timedelta(days=1), gt=timedelta(0),
        description="how often complaints are compared quarter on quarter (SV-TYPE-4)")

    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    policy: Policy = Field(default_factory=Policy)

    webhooks: list[WebhookTarget] = Field(
        default_factory=list, description='JSON list: [{"url": ..., "secret": ...}]')
    webhook_interval: timedelta = Field(default=timedelta(seconds=5), gt=timedelta(0))
    webhook_timeout: timedelta = Field(default=timedelta(seconds=5), gt=timedelta(0))
    webhook_max_backoff: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))

    embedded_workers: bool | None = Field(
        default=None, description="run the views and scheduler inside `serve`; "
        "default: yes on SQLite, no on PostgreSQL (run `casetrail worker` there)")

    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024,
        description="request bodies over this are refused with 413 before they are read")

    ready_max_lag: int = Field(default=1000, ge=1, description=(
        "/readyz answers 503 when a view is more events than this behind the log"))

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: AnyHttpUrl | None = Field(default=None, description=(
        "where people reach this service (sign-in links, the identity provider's "
        "redirect); unset: http://<host>:<port>"))
    console_session_ttl: timedelta = Field(
        default=timedelta(hours=8), gt=timedelta(0),
        description="how long a web console sign-in lasts")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _files_under_home(cls, data: Any) -> Any:
        """Unset file settings go under `home`; every path is made absolute now."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        home = Path(data.get("home") or "var").expanduser().resolve()
        data["home"] = home
        for name, under_home in HOME_FILES.items():
            if name not in data:
                data[name] = home / under_home
            elif data[name] not in (None, ""):
                data[name] = Path(data[name]).expanduser().resolve()
        if data.get("kek_dir"):
            data["kek_dir"] = Path(data["kek_dir"]).expanduser().resolve()
        return data

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def base_url(self) -> str:
        return str(self.public_url).rstrip("/") if self.public_url else (
            f"http://{self.host}:{self.port}")

    @property
    def store(self) -> Literal["postgres", "sqlite"]:
        return "postgres" if self.database_url else "sqlite"

    @property
    def serve_runs_workers(self) -> bool:
        if self.embedded_workers is not None:
            return self.embedded_workers
        return self.store == "sqlite"

    @model_validator(mode="after")
    def _secret_long_enough(self) -> Settings:
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            msg = "secret_key must be at least 32 characters (HS256 needs 256 bits)"
            raise ValueError(msg)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            if not Path(config_file).is_file():
                msg = f"{CONFIG_FILE_ENV}={config_file} does not name a file"
                raise FileNotFoundError(msg)
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


HOME_FILES = {"sqlite_path": "casetrail.sqlite3", "secret_key_file": "secret.key",
              "signing_key_file": "signing.key", "master_key_file": "master.key",
              "witness_file": "checkpoints.jsonl"}
"""The files that live in CASETRAIL_HOME unless set one by one."""

OTHER_ENV = frozenset({CONFIG_FILE_ENV, "CASETRAIL_TEST_DATABASE_URL", "CASETRAIL_SLOW_TESTS"})
"""`CASETRAIL_` variables that are not settings: the config file's path, and the test
suite's own two."""


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """`CASETRAIL_*` variables no setting reads, each with the nearest known name: a
    typo such as CASETRAIL_DATABSE_URL would otherwise be ignored and give SQLite."""
    known = {f"CASETRAIL_{name.upper()}" for name in Settings.model_fields}
    problems = []
    for variable in sorted(v for v in environ if v.upper().startswith("CASETRAIL_")):
        head = variable.upper().split("__", 1)[0]
        if head in known or variable.upper() in OTHER_ENV:
            continue
        near = difflib.get_close_matches(head, sorted(known | OTHER_ENV), n=1)
        problems.append(f"{variable} is not a setting"
                        + (f"; did you mean {near[0]}?" if near else ""))
    return problems


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings from the environment (and the config file), refusing `CASETRAIL_`
    variables that name no setting."""
    problems = unknown_variables(os.environ if environ is None else environ)
    if problems:
        raise ValueError("; ".join(problems))
    return Settings(**overrides)
