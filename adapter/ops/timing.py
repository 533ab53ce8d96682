"""Ack latency: from a webhook request's arrival to its 2xx answer, by source."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter.metrics import WebRecorder

_SOURCES = {
    "shopify": "shopify",
    "stripe": "stripe",
    "forms": "form",
    "woocommerce": "woocommerce",
    "salla": "salla",
    "paymob": "paymob",
}


def source_of(path: str) -> str:
    """The source a webhook path is for, from the route (never from the request's content)."""
    parts = path.split("/", 3)
    return _SOURCES.get(parts[2], "unknown") if len(parts) > 2 else "unknown"


class AckTimer:
    def __init__(self, app: ASGIApp, recorder: WebRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                self.recorder.acked(source_of(scope["path"]), time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, timed)
