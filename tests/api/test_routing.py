"""The casetrail router runs a plain `def` endpoint off the event loop once, where
FastAPI alone would hop to the thread pool twice (the endpoint, then validating its
response): parameters, response models and errors behave as before."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import fastapi.routing
import pytest
from fastapi import APIRouter, FastAPI, Header, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.routing import Router


class Answer(BaseModel):
    case: int
    on_loop: bool
    note: str | None


def endpoint(case: int, response: Response,
             note: Annotated[str | None, Header()] = None) -> Any:
    try:
        asyncio.get_running_loop()
        on_loop = True
    except RuntimeError:
        on_loop = False
    response.headers["ETag"] = f'"{case}"'
    if case == 0:
        return {"case": "not a number", "on_loop": on_loop, "note": note}
    return Answer(case=case, on_loop=on_loop, note=note)


def client(router: APIRouter) -> TestClient:
    router.add_api_route("/cases/{case}", endpoint, response_model=Answer)
    app = FastAPI()
    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every hop FastAPI itself makes to the thread pool."""
    seen: list[object] = []
    original = fastapi.routing.run_in_threadpool

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(func)
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "run_in_threadpool", counted)
    return seen


def test_a_def_endpoint_runs_off_the_loop_and_fastapi_hops_no_more(hops: list[object]) -> None:
    with client(Router()) as http:
        answer = http.get("/cases/7", headers={"note": "hello"})
    assert answer.status_code == 200
    assert answer.json() == {"case": 7, "on_loop": False, "note": "hello"}
    assert answer.headers["ETag"] == '"7"'
    assert hops == []


def test_fastapi_alone_hops_twice(hops: list[object]) -> None:
    with client(APIRouter()) as http:
        assert http.get("/cases/7").json()["on_loop"] is False
    assert len(hops) == 2


def test_parameters_and_the_response_model_are_still_checked() -> None:
    with client(Router()) as http:
        assert http.get("/cases/x").status_code == 422
        assert http.get("/cases/0").status_code == 500  # the response breaks its model
