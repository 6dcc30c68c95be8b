"""EX-LIB-1: the case library on both stores: archived exceptions only, found by
category, service step and full text in any script (FTS5 trigram on SQLite,
pg_trgm on PostgreSQL), with no personal data, rebuilt from the log as it was
built live (RPT-4), and left by a case whose personal data is erased."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from application.app import CaseApplication
from domain.actors import Role
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Category, Improvement, Level
from projections.library import LibraryProjection, construct_library_view
from projections.runtime import ViewRunner
from tests.factories import ctx, feedback, record, resolve, sign_off, to_executing

CONTACT_TEXT = "Wang Fang of ACME Robotics (+86 138 0000 0000, wang.fang@acme.example)"


def archived(cases: CaseApplication, *, category: Category, step: str, root_cause: str,
             lessons: str, improvement: str, archive: bool = True) -> UUID:
    now = cases.clock.now()
    case = record(ctx(now), level=Level.GENERAL, category=category, service_step=step)
    to_executing(case, now)
    resolve(case, now)
    feedback(case, now)
    case.record_review(ctx(now, Role.DEPARTMENT_HEAD), root_cause=root_cause, lessons=lessons,
                       improvements=(Improvement(improvement),))
    if archive:
        sign_off(case, now)
        case.archive(ctx(now, Role.DEPARTMENT_HEAD))
    cases.save_case(case)
    cases.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    return case.id


@pytest.fixture
def library(cases: CaseApplication) -> tuple[ViewRunner, dict[str, UUID]]:
    ids = {
        "firmware": archived(cases, category=Category.AFTER_SALES, step="after_sales_visit",
                             root_cause="固件升级未经测试 机械臂停机",
                             lessons="分批发布固件", improvement="建立固件灰度发布流程"),
        "delivery": archived(cases, category=Category.DELIVERY, step="delivery",
                             root_cause="carrier dropped the pallet, told by " + CONTACT_TEXT,
                             lessons="inspect on arrival", improvement="photo at unloading"),
        "staged": archived(cases, category=Category.AFTER_SALES, step="installation",
                           root_cause="firmware pushed to every cell at once",
                           lessons="staged rollouts over 100 cells",
                           improvement="one cell first"),
        "open": archived(cases, category=Category.AFTER_SALES, step="after_sales_visit",
                         root_cause="firmware again", lessons="x", improvement="y",
                         archive=False),
    }
    runner = ViewRunner(cases, LibraryProjection(cases, construct_library_view(cases)))
    runner.catch_up()
    return runner, ids


def found(runner: ViewRunner, ids: dict[str, UUID], q: str = "", **filters: str) -> list[str]:
    names = {v: k for k, v in ids.items()}
    view = runner.projections[0].view
    return [names[e.case_id] for e in view.search(q, **filters)]


@pytest.mark.rule("EX-LIB-1")
def test_ex_lib_1_archived_cases_are_found_by_words_in_any_script(library) -> None:
    runner, ids = library
    assert found(runner, ids) == ["staged", "delivery", "firmware"]  # newest first
    assert found(runner, ids, "机械臂") == ["firmware"]  # three characters: the index
    assert found(runner, ids, "固件") == ["firmware"]  # two: a scan
    assert found(runner, ids, "PUSHED") == ["staged"]  # any case
    assert found(runner, ids, "firmware") == ["staged", "delivery", "firmware"]  # not "open"
    assert found(runner, ids, "firmware cell") == ["staged"]  # every word must match
    assert found(runner, ids, "pallet 机械臂") == []
    assert found(runner, ids, "灰度 发布") == ["firmware"]  # measures and improvements
    assert found(runner, ids, 'say "hi') == []  # FTS5 syntax is never the caller's
    assert found(runner, ids, "100") == ["staged"]
    assert found(runner, ids, "100%") == found(runner, ids, "1_0") == []  # nor LIKE's


@pytest.mark.rule("EX-LIB-1")
def test_ex_lib_1_category_and_service_step_narrow_the_search(library) -> None:
    runner, ids = library
    assert found(runner, ids, category="after_sales") == ["staged", "firmware"]
    assert found(runner, ids, service_step="installation") == ["staged"]
    assert found(runner, ids, "firmware", category="delivery") == ["delivery"]
    assert found(runner, ids, "cell", category="delivery") == []


@pytest.mark.rule("EX-LIB-1")
def test_ex_lib_1_no_personal_data_in_the_library(library) -> None:
    runner, _ = library
    rows = runner.projections[0].view.rows()
    text = repr(rows)
    for personal in ("Wang Fang", "ACME", "138 0000", "wang.fang", "Palletiser", "C-1",
                     "zhang.san"):
        assert personal not in text, personal
    [entry] = runner.projections[0].view.search("carrier")
    assert entry.root_cause.splitlines() == [  # the review's, then the investigation's
        "carrier dropped the pallet, told by [contact] of [customer] ([phone], [email])",
        "firmware regression"]


@pytest.mark.rule("RPT-4")
@pytest.mark.rule("EX-LIB-1")
def test_ex_lib_1_the_library_rebuilt_from_the_log_equals_the_live_one(library) -> None:
    runner, _ = library
    live = runner.projections[0].view.rows()
    runner.rebuild()
    assert runner.projections[0].view.rows() == live


@pytest.mark.rule("EX-LIB-1")
def test_ex_lib_1_an_erased_case_leaves_the_library(library, cases: CaseApplication) -> None:
    runner, ids = library
    cases.execute(ServiceException, ids["firmware"],
                  lambda c: c.record_erasure(ctx(cases.clock.now(), Role.LEGAL)))
    runner.catch_up()
    assert found(runner, ids) == ["staged", "delivery"]
