"""The auditors' commands as processes: verify, checkpoint, replay, export and
verify-export (AUD-2..AUD-4)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.app import CaseApplication
from domain.actors import Role
from domain.service_exceptions.values import Level
from infrastructure.settings import Settings
from tests.factories import ctx, record, report_up
from tests.reliability.processes import CASETRAIL, env_for


def run(args: list[str], settings: Settings, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASETRAIL, *args], env=env_for(settings), cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.rule("AUD-4")
def test_verify_checkpoint_replay_export_and_verify_export(
        cases: CaseApplication, store_settings: Settings, tmp_path: Path) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    case = record(ctx(start), level=Level.CRITICAL, discovered_at=start)
    cases.save_case(case)
    later = start + timedelta(minutes=20)
    cases.execute(type(case), case.id,
                  lambda c: report_up(c, ctx(later), Role.GROUP_LEADER, at=later))
    # The CLI's clock is the system clock; the events were stamped by the test's.
    assert run(["checkpoint"], store_settings, tmp_path).returncode == 0
    verified = run(["verify", "--all"], store_settings, tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "1 cases, checkpoint log up to 1, witness of 1 checkpoints: all verify" \
        in verified.stderr

    between = (start + timedelta(minutes=10)).isoformat()
    replayed = run(["replay", str(case.id), "--as-of", between], store_settings, tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    state = json.loads(replayed.stdout)
    assert state["version"] == 1 and [e["type"] for e in state["events"]] == ["Recorded"]
    assert state["state"]["customer"]["contact"] == "[redacted]"

    exported = run(["export", str(case.id)], store_settings, tmp_path)
    assert exported.returncode == 0, exported.stderr
    file = tmp_path / "case.json"
    file.write_text(exported.stdout)
    fingerprint = json.loads(exported.stdout)["key_fingerprint"]
    trusted = run(["verify-export", str(file), "--fingerprint", fingerprint],
                  store_settings, tmp_path)
    assert trusted.returncode == 0 and "signed by the key you trust" in trusted.stderr
    untrusted = run(["verify-export", str(file)], store_settings, tmp_path)
    assert "no proof of where it came from" in untrusted.stderr  # not "intact"
    data = json.loads(exported.stdout)
    data["events"] = data["events"][:1]
    file.write_text(json.dumps(data))
    broken = run(["verify-export", str(file)], store_settings, tmp_path)
    assert broken.returncode == 1 and "checkpoint's head 2" in broken.stderr
    assert run(["verify"], store_settings, tmp_path).returncode == 2


@pytest.mark.rule("AUD-5")
def test_aud_5_damage_found_by_the_commands_is_a_message_and_exit_1_never_a_traceback(
        cases: CaseApplication, store_settings: Settings, tmp_path: Path) -> None:
    from tests.integration.test_tamper import Store

    start = datetime.now(UTC) - timedelta(hours=1)
    case = record(ctx(start), level=Level.CRITICAL, discovered_at=start)
    for minutes in (1, 2, 3):
        report_up(case, ctx(start + timedelta(minutes=minutes)), Role.GROUP_LEADER,
                  at=start + timedelta(minutes=minutes))
    cases.save_case(case)
    assert run(["checkpoint"], store_settings, tmp_path).returncode == 0
    store = Store(store_settings)
    store.delete(case.id, 4, chain_too=True)
    refused = run(["checkpoint"], store_settings, tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"case {case.id}, version 4: event 4 is missing: checkpoint 1 saw version 4" \
        in refused.stderr and "nothing was signed" in refused.stderr
    one = run(["verify", str(case.id)], store_settings, tmp_path)
    assert one.returncode == 1 and "broken at version 4" in one.stderr
    store.checkpoint_sql("UPDATE {table} SET payload = 'x' WHERE seq = ?", 1)
    for args in (["verify", str(case.id)], ["verify", "--all"], ["checkpoint"]):
        answer = run(args, store_settings, tmp_path)
        assert answer.returncode == 1 and "Traceback" not in answer.stderr, args
        assert "checkpoint 1" in answer.stderr, args
    bad = run(["verify", "not-a-uuid"], store_settings, tmp_path)
    assert bad.returncode == 2 and "is not a case id" in bad.stderr
    garbled = tmp_path / "garbled.jsonl"
    garbled.write_text("{not json\n")
    unreadable = run(["verify", "--all", "--witness", str(garbled)], store_settings, tmp_path)
    assert unreadable.returncode == 2 and "line 1: not a checkpoint" in unreadable.stderr


@pytest.mark.rule("SV-SAMPLE-2")
def test_import_customers_command_reports_bad_rows_and_imports_nothing(
        cases: CaseApplication, store_settings: Settings, tmp_path: Path) -> None:
    header = ("id,name,key_account,size,region,kind,first_contract,contact_name,"
              "contact_phone,contact_email,respondent_class\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "C1,ACME,yes,key,east,enterprise,2019-03-01,Wang,,,A\n"
                   "C2,Delta,no,sme,south,robot,,Zhou,,,B\n")
    result = run(["import", "customers", str(bad)], store_settings, tmp_path)
    assert result.returncode == 1
    assert "line 3, kind" in result.stderr and "nothing imported" in result.stderr
    good = tmp_path / "good.csv"
    good.write_text(header + "C1,ACME,yes,key,east,enterprise,2019-03-01,Wang,,,A\n")
    result = run(["import", "customers", str(good), "--dry-run"], store_settings, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 new customers would be imported" in result.stderr
    result = run(["import", "customers", str(good)], store_settings, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 new customers were imported, 0 were updated" in result.stderr
    good.write_text(header + "C1,ACME,yes,key,west,enterprise,2019-03-01,Wang,,,A\n")
    result = run(["import", "customers", str(good)], store_settings, tmp_path)
    assert result.returncode == 1 and "line 2, id: C1 is already registered" in result.stderr
    result = run(["import", "customers", str(good), "--update"], store_settings, tmp_path)
    assert "0 new customers were imported, 1 were updated" in result.stderr
    missing = run(["import", "customers", str(tmp_path / "none.csv")], store_settings, tmp_path)
    assert missing.returncode == 2 and "No such file" in missing.stderr
    assert "Traceback" not in missing.stderr
