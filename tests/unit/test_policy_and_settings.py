"""Every policy number carries its DOMAIN.md rule ID; settings override them."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.policy import ExceptionPolicy, Policy, rule_of
from infrastructure.persistence import persistence_env
from infrastructure.settings import Settings

RULE_ID = re.compile(r"^(CAL|EX|SV|CA|SLA|AUD|RET|RPT|SEC)(-[A-Z0-9]+)+$")
DOMAIN_MD = Path(__file__).resolve().parents[3] / "shared" / "spec" / "DOMAIN.md"


def all_policy_fields() -> list[tuple[object, dataclasses.Field[object]]]:
    policy = Policy()
    return [(group, f) for group in (getattr(policy, g.name) for g in dataclasses.fields(policy))
            for f in dataclasses.fields(group)]


def test_every_policy_number_names_a_rule_of_domain_md() -> None:
    known = set(re.findall(r"\*\*([A-Z]+(?:-[A-Z0-9]+)+)\*\*", DOMAIN_MD.read_text())) \
        if DOMAIN_MD.exists() else None
    for group, f in all_policy_fields():
        rule_id = f.metadata["rule"]
        assert RULE_ID.match(rule_id), (type(group).__name__, f.name)
        if known is not None:
            assert rule_id in known, f"{f.name}: {rule_id} is not a rule of DOMAIN.md"


def test_ex_esc_1_defaults_are_the_regulation_numbers() -> None:
    policy = ExceptionPolicy()
    assert (policy.report_up_general, policy.report_up_major, policy.report_up_critical) == (
        timedelta(hours=1), timedelta(hours=2), timedelta(minutes=30))
    assert rule_of(policy, "report_up_critical") == "EX-ESC-1"
    assert rule_of(policy, "plan_major") == "EX-PLAN-2"


def test_policy_numbers_are_overridden_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASETRAIL_POLICY__EXCEPTIONS__REPORT_UP_MAJOR", "PT3H")
    monkeypatch.setenv("CASETRAIL_POLICY__SLA__WARNING_FRACTION", "0.5")
    settings = Settings()
    assert settings.policy.exceptions.report_up_major == timedelta(hours=3)
    assert settings.policy.exceptions.report_up_general == timedelta(hours=1)
    assert settings.policy.sla.warning_fraction == 0.5


def test_settings_read_a_toml_file_under_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "casetrail.toml"
    config.write_text('[calendar]\ntimezone = "UTC"\nclose_of_business = "17:30:00"\n'
                      'closures = ["2026-12-31"]\n[policy.corrective_actions]\n'
                      "plan_working_days = 4\n")
    monkeypatch.setenv("CASETRAIL_CONFIG_FILE", str(config))
    monkeypatch.setenv("CASETRAIL_CALENDAR__TIMEZONE", "Asia/Shanghai")
    settings = Settings()
    assert settings.calendar.timezone == "Asia/Shanghai"  # environment wins
    assert settings.calendar.close_of_business == time(17, 30)
    assert settings.policy.corrective_actions.plan_working_days == 4


@pytest.mark.parametrize(("variable", "value"), [
    ("CASETRAIL_POLICY__SURVEYS__KEY_ACCOUNT_WEIGHT", "1.5"),  # SV-KPI-3: must stay >= 2
    ("CASETRAIL_POLICY__SLA__WARNING_FRACTION", "1.2"),
    ("CASETRAIL_POLICY__EXCEPTIONS__RESOLVE_MAJOR_WORKING_DAYS", "0"),
    ("CASETRAIL_CALENDAR__TIMEZONE", "Mars/Olympus"),
    ("CASETRAIL_SECRET_KEY", "short"),
])
def test_bad_settings_are_refused_with_the_field_named(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_cal_3_close_of_business_24_00_means_no_business_hours(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASETRAIL_CALENDAR__CLOSE_OF_BUSINESS", "24:00")
    assert Settings().calendar.close_of_business is None
    monkeypatch.setenv("CASETRAIL_CALENDAR__CLOSE_OF_BUSINESS", "17:30")
    assert Settings().calendar.close_of_business == time(17, 30)


def test_a_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASETRAIL_CONFIG_FILE", "/nonexistent/casetrail.toml")
    with pytest.raises(FileNotFoundError):
        Settings()


def test_store_is_sqlite_by_default_and_postgres_with_a_dsn(tmp_path: Path) -> None:
    sqlite = persistence_env(Settings(sqlite_path=tmp_path / "var" / "c.sqlite3"))
    assert sqlite["PERSISTENCE_MODULE"].endswith(":CasetrailSQLiteFactory")
    assert sqlite["CREATE_TABLE"] == "n"
    assert (tmp_path / "var").is_dir()
    pg = persistence_env(Settings(
        database_url="postgresql://casetrail:pw@db.internal:6543/cases"
                     "?sslmode=verify-full&application_name=casetrail-api",
        postgres_lock_timeout=7), create_tables=True)
    assert pg["PERSISTENCE_MODULE"].endswith(":CasetrailPostgresFactory")
    assert json.loads(pg["CASETRAIL_DSN_EXTRA"]) == {
        "sslmode": "verify-full", "application_name": "casetrail-api"}
    assert (pg["POSTGRES_HOST"], pg["POSTGRES_PORT"], pg["POSTGRES_DBNAME"]) == (
        "db.internal", "6543", "cases")
    assert (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"]) == ("casetrail", "pw")
    assert pg["POSTGRES_LOCK_TIMEOUT"] == "7"
    assert pg["POSTGRES_ENABLE_DB_FUNCTIONS"] == "n"
    assert pg["CREATE_TABLE"] == "y"


def test_cal_2_the_calendar_is_built_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    from infrastructure.bootstrap import build_calendar

    monkeypatch.setenv("CASETRAIL_CALENDAR__CLOSURES", '["2026-12-31"]')
    monkeypatch.setenv("CASETRAIL_CALENDAR__EXTRA_WORKING_DAYS", '["2026-12-27"]')
    calendar = build_calendar(Settings())
    assert not calendar.is_working_day(date(2026, 12, 31))
    assert calendar.is_working_day(date(2026, 12, 27))
    assert calendar.is_working_day(date(2026, 10, 10))  # CN adjusted working day


def test_a_casetrail_variable_that_names_no_setting_is_refused_with_the_nearest_name(
) -> None:
    from infrastructure.settings import load_settings, unknown_variables

    env = {"CASETRAIL_DATABSE_URL": "postgresql://x/y", "CASETRAIL_PORT": "9000",
           "CASETRAIL_POLICY__SURVEYS__KEY_ACCOUNT_WEIGHT": "3",
           "CASETRAIL_CONFIG_FILE": "casetrail.toml", "CASETRAIL_TEST_DATABASE_URL": "x",
           "OTHER": "1"}
    assert unknown_variables(env) == [
        "CASETRAIL_DATABSE_URL is not a setting; did you mean CASETRAIL_DATABASE_URL?"]
    with pytest.raises(ValueError, match="did you mean CASETRAIL_DATABASE_URL"):
        load_settings(env)


def test_log_levels_are_read_in_any_case() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"
    with pytest.raises(ValidationError):
        Settings(log_level="chatty")


def test_one_home_for_the_files_made_absolute_at_start(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = Settings(home=Path("data"))
    assert relative.home == tmp_path / "data"
    assert (relative.sqlite_path, relative.secret_key_file, relative.witness_file) == (
        tmp_path / "data" / "casetrail.sqlite3", tmp_path / "data" / "secret.key",
        tmp_path / "data" / "checkpoints.jsonl")
    chosen = Settings(home=Path("data"), signing_key_file=Path("keys/sign.key"),
                      witness_file=None)
    assert chosen.signing_key_file == tmp_path / "keys" / "sign.key"  # set: kept, absolute
    assert chosen.witness_file is None  # switched off stays off
    assert Settings().home == tmp_path / "var"


def test_a_generated_key_file_is_made_once_whole_and_private(tmp_path: Path) -> None:
    """Processes starting at once (serve and worker on a fresh volume) agree on one key."""
    import itertools
    import threading

    from infrastructure.key_files import key_material

    path, counter = tmp_path / "home" / "secret.key", itertools.count()
    barrier, found = threading.Barrier(8), []

    def start() -> None:
        barrier.wait()
        found.append(key_material(None, path, lambda: f"key-{next(counter)}" * 8))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1 and found[0].startswith("key-")
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # nothing staged left
