"""The store gate (R4): closed only when the server does not answer a probe of its
own, reopened by its probe once the server is back."""

from __future__ import annotations

import psycopg
import pytest

from infrastructure.store_gate import StoreGate
from tests.reliability.processes import wait_for
from tests.reliability.tcp_proxy import TcpProxy


@pytest.mark.postgres
def test_a_store_error_while_the_server_answers_leaves_the_gate_open(postgres_url: str) -> None:
    gate = StoreGate(postgres_url)
    gate.suspect()  # e.g. a lock timeout: the server itself is fine
    assert not gate.closed


@pytest.mark.postgres
def test_the_gate_closes_while_the_server_is_away_and_reopens_when_it_is_back(
        postgres_url: str) -> None:
    target = psycopg.conninfo.conninfo_to_dict(postgres_url)
    proxy = TcpProxy(str(target.get("host") or "127.0.0.1"), int(target.get("port") or 5432))
    proxy.start()
    gate = StoreGate(psycopg.conninfo.make_conninfo(postgres_url, port=proxy.port),
                     interval=0.1)
    try:
        proxy.cut()
        gate.suspect()
        assert gate.closed
        proxy.start()
        wait_for(lambda: not gate.closed, 10, "the probe to reopen the gate")
    finally:
        proxy.cut()
