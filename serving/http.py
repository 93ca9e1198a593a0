"""HTTP plumbing as plain ASGI (no per-request task overhead): a body-size limit enforced before
the app parses anything, and request metrics by route and status."""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROUTES = ("/recommend", "/healthz", "/metrics")


def route_label(path: str) -> str:
    """A bounded label set for metrics (user ids in paths would explode cardinality)."""
    return next((route for route in ROUTES if path == route or path.startswith(route + "/")), "other")


class BodySizeLimit:
    """Answer 413 to a body over ``max_bytes``: by its Content-Length at once, else while it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _reject(self, send: Send, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        limit = f"request body over the limit of {self.max_bytes} bytes"
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send, f"{limit} (Content-Length {int(declared)})")
            return
        # Undeclared or chunked: read it all here, up to the limit, then replay it to the app.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class ObserveRequests:
    """Latency histogram and status counts per route, for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status, recorded = time.perf_counter(), 500, False

        def record() -> None:
            nonlocal recorded
            recorded = True
            route = route_label(scope["path"])
            self.metrics.latency.labels(route=route).observe(time.perf_counter() - started)
            self.metrics.requests.labels(route=route, status=str(status)).inc()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                record()  # before the last byte leaves, so a client that then scrapes sees it
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if not recorded:
                record()
