"""What FastAPI leaves out of the OpenAPI document, added in one place: the response
headers a client relies on (API.md), and the links from an answer that shows a case
to the operations on that case (so a client, or a stateful fuzzer, can follow
them)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

_CASE = re.compile(r"^/v1/(exceptions|surveys|corrective-actions)(/\{case_id\}.*)?$")


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


REQUEST_ID = _header("the request's id: quote it when reporting a problem")
ETAG = _header('the case version this answer shows, as "<version>"; send it back as If-Match',
               {"type": "string", "examples": ['"3"']})
LOCATION = _header("where the created resource is")
REPLAYED = _header("`true` when this is the stored first answer to an earlier request with "
                   "the same Idempotency-Key (AUD-6)", {"type": "string", "enum": ["true"]})
RETRY_AFTER = _header("seconds to wait before repeating", {"type": "integer"})


def headers_for(path: str, method: str, status: str) -> dict[str, dict[str, Any]]:
    headers = {"X-Request-ID": REQUEST_ID}
    success = status.startswith("2")
    if success and _CASE.match(path) and (method == "post" or path.endswith("{case_id}")):
        headers["ETag"] = ETAG
    if status == "201":
        headers["Location"] = LOCATION
    if success and method == "post":
        headers["Idempotent-Replayed"] = REPLAYED
    if status == "503":
        headers["Retry-After"] = RETRY_AFTER
    return headers


def links_for(path: str, method: str, paths: dict[str, Any]) -> dict[str, Any]:
    """From an answer that shows a case (its creation, a command, its read) to every
    operation on that case, the case id taken from the answer's `id`."""
    found = _CASE.match(path)
    if not found or not (method == "post" or path.endswith("{case_id}")):
        return {}
    prefix = f"/v1/{found.group(1)}/{{case_id}}"
    return {f"{target_method}{target.replace('/', '_')}": {
        "operationId": operation["operationId"], "parameters": {"case_id": "$response.body#/id"}}
        for target, operations in paths.items() if target.startswith(prefix)
        for target_method, operation in operations.items()}


def document(app: FastAPI) -> None:
    """Wrap `app.openapi` so every response documents its headers and links."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in schema["paths"].items():
                for method, operation in operations.items():
                    links = links_for(path, method, schema["paths"])
                    for status, response in operation.get("responses", {}).items():
                        response.setdefault("headers", {}).update(
                            headers_for(path, method, status))
                        if status in {"200", "201"} and links:
                            response["links"] = links
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
