"""SEC-IN-2 at the edge, through the app: refusals before the body is read, a body
limit from Content-Length or while streaming, duplicate single headers, and a
request id on every answer, 5xx included."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from domain.actors import Role
from tests.api.conftest import bearer, stored_events
from tests.factories import open_body

LIMIT = 1024 * 1024


class Body:
    """A streamed body that counts what the server pulled from it."""

    def __init__(self, chunks: int, size: int = 64 * 1024) -> None:
        self.chunks, self.size, self.pulled = chunks, size, 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * self.size


@pytest.mark.rule("SEC-IN-2")
def test_sec_in_2_an_unauthenticated_body_is_refused_unread(client: TestClient) -> None:
    body = Body(chunks=100)  # 6.4 MB
    response = client.post("/v1/exceptions", content=body)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert body.pulled <= 1  # the client's first chunk at most, never the rest
    forged = client.post("/v1/exceptions", content=Body(chunks=3),
                         headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401 and forged.json()["detail"].startswith("invalid token")


@pytest.mark.rule("SEC-IN-2")
def test_sec_in_2_a_body_over_the_limit_is_413_declared_or_streamed(
        client: TestClient, make_token: Callable[..., str], cases) -> None:
    headers = bearer(make_token())
    before = stored_events(cases)
    declared = client.post("/v1/exceptions", content=b"x" * (LIMIT + 1), headers=headers)
    assert declared.status_code == 413 and declared.json()["limit"] == LIMIT
    response = client.post("/v1/exceptions", content=Body(chunks=100), headers=headers)
    assert response.status_code == 413
    assert client.post("/v1/exceptions", json=open_body(), headers=headers).status_code == 201
    assert stored_events(cases) == before + 1


@pytest.mark.rule("SEC-IN-2")
@pytest.mark.parametrize("name", ["Authorization", "If-Match", "Idempotency-Key"])
def test_sec_in_2_a_single_header_sent_twice_is_400(
        name: str, client: TestClient, make_token: Callable[..., str]) -> None:
    token = f"Bearer {make_token('li.wei', Role.AUDITOR)}"
    values = {"Authorization": [token, token], "If-Match": ['"1"', '"2"'],
              "Idempotency-Key": ["a", "b"]}[name]
    headers = [(name, value) for value in values]
    if name != "Authorization":
        headers.append(("Authorization", token))
    response = client.post("/v1/exceptions", json=open_body(), headers=headers)
    assert response.status_code == 400, response.text
    assert (response.json()["header"], response.headers["x-request-id"]) == (
        name, response.headers["x-request-id"])
    assert client.get("/v1/exceptions", headers=headers).status_code == 400


@pytest.mark.rule("SEC-IN-2")
def test_sec_in_2_a_server_error_carries_its_request_id(
        store_settings, clock, cases, make_token: Callable[..., str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from api.app import create_app

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a fault")

    with TestClient(create_app(store_settings, clock, cases),
                    raise_server_exceptions=False) as client:
        monkeypatch.setattr(cases, "search", broken)
        response = client.get("/v1/exceptions", headers=bearer(make_token()))
    assert response.status_code == 500
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-request-id"] in response.text or \
        "X-Request-ID" in response.json()["detail"]


@pytest.mark.rule("SEC-IN-2")
def test_sec_in_2_a_streamed_body_is_read_no_further_than_the_limit(
        client: TestClient, make_token: Callable[..., str]) -> None:
    """At the ASGI level, where what the server pulls can be counted (the test
    client buffers bodies itself)."""
    import asyncio

    pulled, sent = [0], []

    async def receive() -> dict:
        pulled[0] += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": pulled[0] < 1000}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/exceptions", "raw_path": b"",
             "root_path": "", "scheme": "http", "query_string": b"", "http_version": "1.1",
             "server": ("test", 80), "client": ("test", 1), "headers": [
                 (b"authorization", f"Bearer {make_token()}".encode()),
                 (b"content-type", b"application/json")]}
    asyncio.run(client.app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled[0] == LIMIT // 65536 + 1  # 64 MB offered, 1 MiB + one chunk read
