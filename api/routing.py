"""The router every casetrail endpoint is registered on.

FastAPI runs a plain `def` endpoint in the thread pool, and then, for its response
model, hops there a second time to validate what the endpoint returned: each hop
costs about 0.35 ms of CPU, as much as a small endpoint's own work (B2). Our
endpoints block on the store, so they must leave the event loop, but once is
enough: this router wraps each `def` endpoint in an `async def` that runs it in the
thread pool, and FastAPI then validates and serialises the response on the loop.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool


def in_thread_pool(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """`endpoint` as a coroutine function that runs it in the thread pool. FastAPI
    reads the parameters (and their module's names) through `__wrapped__`."""

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


class Router(APIRouter):
    def add_api_route(self, path: str, endpoint: Callable[..., Any],
                      **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = in_thread_pool(endpoint)
        super().add_api_route(path, endpoint, **kwargs)
