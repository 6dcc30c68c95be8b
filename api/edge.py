"""The edge (SEC-IN-2): what is refused before a request's body is read. Pure ASGI,
inside the observability middleware, so its refusals carry a request id and count.

- A header that must appear once (`Authorization`, `If-Match`, `Idempotency-Key`)
  and appears twice: 400. Which one wins would be a guess.
- A request with a body to the API without a valid token: 401, body unread. The
  token is verified here with the same service the routes use (its cache makes the
  second check free).
- A control character (such as NUL) in the query string: 422, for both stores alike.
- A body over the limit: 413, from `Content-Length` when it is given, else as soon
  as the streamed body passes the limit; what was read is dropped.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response, unauthorized
from infrastructure.tokens import InvalidToken, TokenService

ONCE = (b"authorization", b"if-match", b"idempotency-key")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, tokens: TokenService, max_body: int) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] not in WITH_BODY:
            await self.app(scope, receive, send)
            return
        read, refused = 0, False

        async def limited() -> Message:
            nonlocal read, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            read += len(message.get("body", b""))
            if read > self.max_body:  # answer now; the app sees the client gone
                refused = True
                await self._too_large(scope)(scope, receive, send)
                return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited, unless_refused)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        if CONTROL.search(unquote(scope.get("query_string", b"").decode("latin-1"))):
            return problem_response(Request(scope), 422, "validation", "Invalid request",
                                    "the query string holds a control character (such as NUL)")
        headers = scope["headers"]
        for name in ONCE:
            if sum(1 for key, _ in headers if key == name) > 1:
                title = name.decode().title()
                return problem_response(Request(scope), 400, "duplicate-header",
                                        "Duplicate header", f"{title} was sent more than once",
                                        header=title)
        if scope["method"] not in WITH_BODY or not scope["path"].startswith("/v1/"):
            return None
        values = dict(headers)
        authorization = values.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._unauthorized(scope, "send 'Authorization: Bearer <token>'")
        try:
            self.tokens.verify(token.strip())
        except InvalidToken as e:
            return self._unauthorized(scope, f"invalid token: {e}")
        length = values.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            return self._too_large(scope)
        return None

    @staticmethod
    def _unauthorized(scope: Scope, detail: str) -> JSONResponse:
        problem = unauthorized(detail)
        return problem_response(Request(scope), problem.status, problem.slug, problem.title,
                                problem.detail, headers=problem.headers)

    def _too_large(self, scope: Scope) -> JSONResponse:
        return problem_response(Request(scope), 413, "body-too-large", "Content too large",
                                f"the body may be at most {self.max_body} bytes",
                                limit=self.max_body)
