"""EX-FORM-1 from a full lifecycle, EX-SIGN-1 and EX-CHAIN-1 over HTTP: each level's
closing document after the case went from discovery to archive, in Markdown, in
HTML and as headless Chromium reads it; the critical case's notifications."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from application.documents import SECTIONS
from infrastructure.scheduler import SingleProcessLeadership, Workers
from infrastructure.settings import Settings, WebhookTarget
from projections.library import LibraryProjection
from projections.runtime import ViewRunner
from tests.api.chromium import dom
from tests.api.conftest import bearer
from tests.api.walk import CST, SIGNERS, Walker

TITLES = {"general": "一般客户服务异常处置记录表", "major": "较大客户服务异常处置报告",
          "critical": "重大客户服务异常处置总结报告"}
SIGN_LINES = {"general": ["部门负责人审核"], "major": ["处置小组副组长审核"],
              "critical": ["处置小组审议", "公司管理层备案"]}


@pytest.fixture
def walk(client: TestClient, make_token, clock) -> Walker:
    return Walker(client, make_token, clock)


def to_archive(walk: Walker, level: str) -> dict:
    """Discovery to archive as the people of each level would do it. The critical
    case is also a product-quality case: R&D and supply chain investigate, and the
    plan replaces the part and traces the supplier (EX-SPEC-2)."""
    walk.at(datetime(2026, 10, 8, 9, 0))
    critical = level == "critical"
    walk.open(level=level, discovered_at="2026-10-08T08:50:00+08:00",
              special=["product_quality"] if critical else [])
    walk.report("department_head")
    if level != "general":
        walk.report("cs_head")
    if critical:
        walk.report("group_leader", "principal")
    walk.respond(level)
    if critical:
        walk.investigate(participants=["rnd", "supply_chain"], finding="product_defect")
    else:
        walk.investigate()
    due = (walk.clock.now() + timedelta(days=2)).isoformat()
    kinds = ["replace_repair", "supply_chain_trace"] if critical else ["general"]
    walk.post("plans", {
        "measures": [{"description": f"{kind} for cell 3", "responsible_department":
                      "after_sales", "responsible_person": "zhang.san", "due_at": due,
                      "kind": kind} for kind in kinds],
        "resources": "two engineers", "milestones": [{"name": "cell running", "due_at": due}]},
        "li.wei", expect=201)
    walk.approve(level)
    if level != "general":
        walk.at(datetime(2026, 10, 8, 17, 0))
        walk.progress("meeting" if critical else "report")
    walk.at(datetime(2026, 10, 9, 11, 0))
    walk.resolve()
    walk.feedback()
    if level != "general":
        walk.accept(True)
    walk.at(datetime(2026, 10, 20, 10, 0))
    walk.review(level)
    return walk.archive(level)


def sections(markdown: str) -> list[str]:
    return re.findall(r"^## (.+)$", markdown, flags=re.M)


@pytest.mark.rule("EX-FORM-1")
@pytest.mark.parametrize("level", ["general", "major", "critical"])
def test_ex_form_1_each_level_s_closing_document_from_discovery_to_archive(
        walk: Walker, client: TestClient, level: str, tmp_path: Path) -> None:
    view = to_archive(walk, level)
    assert view["status"] == "archived"
    markdown = client.get(f"{walk.location}/document",
                          headers=bearer(walk.tokens["zhao"], Accept="text/markdown")).text
    expected = [title for key, title in SECTIONS.items()
                if key != "progress" or level != "general"]
    assert markdown.startswith(f"# {TITLES[level]}\n")
    assert sections(markdown) == expected
    for text in ("Palletiser stopped", "firmware regression", "for cell 3",
                 "cell running again", "satisfaction 4/5", "untested firmware",
                 "stage rollouts", "staged rollout", "dms://cases/1"):
        assert text in markdown, text
    signing = markdown.split(SECTIONS["sign_off"])[1].split("## ")[0]
    assert "pending" not in signing
    for line, user in zip(SIGN_LINES[level], SIGNERS[level], strict=True):
        assert re.search(rf"- {line}[^:]*: {re.escape(user)}, 2026-10-20 10:00 CST", signing)
    if level == "critical":
        assert "Stationed on site: zhang\\.san" in markdown
        assert "(replace_repair)" in markdown and "(supply_chain_trace)" in markdown
        assert "Finding: product_defect" in markdown
        assert "Retrospective meeting" in markdown

    html = client.get(f"{walk.location}/document",
                      headers=bearer(walk.tokens["zhao"], Accept="text/html")).text
    parsed = dom(html, tmp_path)
    assert re.findall(r"<h1>(.*?)</h1>", parsed) == [TITLES[level]]
    assert re.findall(r"<h2>(.*?)</h2>", parsed) == expected
    assert "<svg" in parsed and "Deadlines: hours allowed and taken" in parsed


@pytest.mark.rule("EX-SIGN-1")
def test_ex_sign_1_a_critical_summary_is_deliberated_then_filed_over_http(
        walk: Walker) -> None:
    walk.at(datetime(2026, 10, 8, 9, 0))
    walk.open(level="critical", discovered_at="2026-10-08T08:50:00+08:00")
    for to in (("department_head",), ("cs_head",), ("group_leader", "principal")):
        walk.report(*to)
    walk.respond("critical")
    walk.investigate()
    walk.propose()
    walk.approve("critical")
    walk.resolve()
    walk.feedback()
    walk.accept(True)
    early = walk.post("archive", {}, "sun", expect=409)
    assert early["missing_step"] == "review"
    walk.review("critical")
    unsigned = walk.post("archive", {}, "sun", expect=409)
    assert unsigned["missing_step"] == "sign_off"
    walk.post("sign-off", {}, "qian", expect=403)  # cs_head signs major reports only
    walk.post("sign-off", {}, "feng", expect=403)  # management files after deliberation
    assert walk.post("sign-off", {}, "sun")["sign_offs_pending"] == ["management"]
    view = walk.post("sign-off", {}, "feng")
    assert [(s["role"], s["signed_by"]) for s in view["sign_offs"]] == [
        ("group_leader", "sun"), ("management", "feng")]
    assert view["sign_offs_pending"] == []
    assert walk.archive("critical", sign_off=False)["status"] == "archived"


@pytest.mark.rule("EX-CHAIN-1")
def test_ex_chain_1_a_critical_case_notifies_each_link_and_feeds_the_result_back(
        walk: Walker, cases, store_settings: Settings) -> None:
    """The whole critical case over HTTP; the worker's outbox then holds one
    `exception.reported` per link and one `exception.resolved`, signed and sent like
    the SLA notifications."""
    to_archive(walk, "critical")
    target = WebhookTarget(url="http://127.0.0.1:9/hooks", secret="receiver-secret-0123456789",
                           events=["exception.reported", "exception.resolved"])
    workers = Workers(cases, store_settings.model_copy(update={"webhooks": [target]}),
                      SingleProcessLeadership())
    workers.outbox_runner.catch_up()
    sent = [(d["event"], json.loads(d["payload"])) for d in workers.outbox.deliveries()]
    sent.sort(key=lambda e: int(e[1]["event_id"].split("/")[1]))
    assert [(kind, p.get("recipients")) for kind, p in sent] == [
        ("exception.reported", ["department_head"]), ("exception.reported", ["cs_head"]),
        ("exception.reported", ["group_leader", "principal"]),
        ("exception.resolved", ["cs_head", "department_head", "frontline"])]
    assert datetime.fromisoformat(sent[-1][1]["resolved_at"]) == datetime(
        2026, 10, 9, 11, 0, tzinfo=CST)


@pytest.mark.rule("EX-LIB-1")
def test_ex_lib_1_an_archived_case_is_in_the_library_for_every_department(
        walk: Walker, client: TestClient, cases) -> None:
    to_archive(walk, "critical")
    case_id = walk.location.rsplit("/", 1)[1]
    ViewRunner(cases, LibraryProjection(cases, client.app.state.library)).catch_up()
    for user in ("he", "audit.1", "rnd.1"):  # another department, the auditor, R&D
        page = client.get("/v1/library?q=firmware&category=after_sales",
                          headers=bearer(walk.tokens[user]))
        assert page.status_code == 200, page.text
        [item] = page.json()["items"]
        assert (item["case_id"], item["href"]) == (case_id, f"/v1/exceptions/{case_id}")
        assert item["level"] == "critical" and item["special"] == ["product_quality"]
        assert "replace_repair for cell 3 (after_sales, replace_repair)" in item["measures"]
        assert "Wang Fang" not in page.text and "ACME" not in page.text
    assert client.get("/v1/library?q=firmware&category=delivery",
                      headers=bearer(walk.tokens["he"])).json()["items"] == []
    assert client.get("/v1/library?q=" + "x" * 201,
                      headers=bearer(walk.tokens["he"])).status_code == 422
