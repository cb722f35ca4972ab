"""HTTP-level answers from /graphql as GraphQL errors: every refusal is JSON with a stable `extensions.code`."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    503: "UNAVAILABLE",
}


class JsonErrors:
    """Rewrite plain-text 4xx/5xx answers under `path` (Strawberry's transport errors) as GraphQL error JSON."""

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app, self.path = app, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = b""

        async def capture(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                plain = not headers.get(b"content-type", b"").startswith(b"application/json")
                if message["status"] >= 400 and plain and message["status"] in CODES:
                    start = message
                    return
                await send(message)
            elif start is not None:
                body += message.get("body", b"")
                if not message.get("more_body"):
                    await self._rewrite(start, body, send)
            else:
                await send(message)

        await self.app(scope, receive, capture)

    @staticmethod
    async def _rewrite(start: Message, body: bytes, send: Send) -> None:
        status = start["status"]
        text = body.decode("utf-8", "replace").strip()[:500] or "the request was refused"
        payload = json.dumps({"errors": [{"message": text, "extensions": {"code": CODES[status]}}]}).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-type", b"content-length")]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class InFlightLimit:
    """At most `limit` GraphQL requests in progress; the next ones get a fast 503 (and Retry-After).

    Under overload the alternative is a queue for pool connections that grows until every request
    times out; refusing early keeps the ones admitted fast and memory flat.
    """

    def __init__(self, app: ASGIApp, limit: int, path: str = "/graphql") -> None:
        self.app, self.limit, self.path = app, limit, path
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            payload = json.dumps(
                {"errors": [{"message": "the server is busy; retry shortly", "extensions": {"code": "UNAVAILABLE"}}]}
            ).encode()
            headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
            headers.append((b"content-length", str(len(payload)).encode()))
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
