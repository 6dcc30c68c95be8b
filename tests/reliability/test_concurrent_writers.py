"""R1: 50 concurrent writers x 100 rounds on one case (SEC-IN-1, AUD-3). Each round
is one attempt, as an API client makes it: load the case, add a report up, save.
An attempt either commits or is told it lost the race (ConcurrentUpdate, a 409);
it is never silently merged or dropped. Afterwards every acknowledged write is in
the history exactly once, no refused one is, the versions run 1..n without a gap,
and the hash chain verifies."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

from application.app import CaseApplication
from domain.actors import Role
from domain.errors import ConcurrentUpdate
from domain.service_exceptions.model import ServiceException
from infrastructure.clock import FrozenClock
from tests.factories import ctx, record

WRITERS, ROUNDS = 50, 100


@pytest.mark.slow
@pytest.mark.rule("SEC-IN-1")
@pytest.mark.rule("AUD-3")
def test_r1_concurrent_writers_on_one_case_lose_no_update(cases: CaseApplication,
                                                          clock: FrozenClock) -> None:
    case = record(ctx(clock.now()), discovered_at=clock.now() - timedelta(minutes=5))
    cases.save_case(case)
    acknowledged: list[str] = []
    refused: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def report(mark: str) -> Callable[[ServiceException], None]:
        return lambda c: c.report_up(
            ctx(clock.now(), user=mark), reported_to=(Role.DEPARTMENT_HEAD,),
            reported_at=clock.now(), details=mark, first_judgement="-",
            customer_demands="-", measures_taken="-")

    def writer(n: int) -> None:
        start.wait()
        for round_ in range(ROUNDS):
            mark = f"writer {n} round {round_}"
            try:
                cases.execute(ServiceException, case.id, report(mark))
                acknowledged.append(mark)
            except ConcurrentUpdate:
                refused.append(mark)
            except BaseException as e:
                failures.append(e)
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, failures[:3]
    assert len(acknowledged) + len(refused) == WRITERS * ROUNDS
    assert acknowledged, "some writer must win"
    events = list(cases.events.get(case.id))
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    recorded = Counter(report.details for report, _ in ServiceException.reports_in(events))
    assert recorded == Counter(acknowledged), "every acknowledged write, exactly once"
    assert not set(refused) & set(recorded), "no refused write slipped in"
    assert cases.verify_case(case.id).ok
