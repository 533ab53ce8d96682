"""Operating the service: health, readiness, Prometheus metrics and the status page.

`create_served_app(settings)` is the app `adapter serve` runs: the webhook endpoints
of `adapter.app`, with the operations routes mounted, every answer counted into
`adapter.metrics`, ack latency timed, and a request id bound to every request's logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from adapter.app import IgnorePredicate, create_app
from adapter.logs import RequestIdMiddleware
from adapter.metrics import WebRecorder
from adapter.ops.routes import Ops, ops_routes
from adapter.ops.state import Reader
from adapter.ops.timing import AckTimer
from adapter.settings import Settings

__all__ = ["create_served_app", "ops_routes"]

EVENT_INTERVAL_SECONDS = 0.2


def create_served_app(
    settings: Settings,
    *,
    routes: Sequence[BaseRoute] = (),
    ignore: IgnorePredicate | None = None,
) -> Starlette:
    """The webhook app with the operations endpoints (and `routes`, tried before them)."""
    # flushed often: `adapter tail` shows a delivery verified before it is mapped
    recorder = WebRecorder(forms=settings.forms, interval=EVENT_INTERVAL_SECONDS)
    reader = Reader.connect(settings)
    app = create_app(
        settings,
        # the caller's routes first: a route early in the list is matched sooner
        routes=[*routes, *ops_routes()],
        on_outcome=recorder.on_outcome,
        on_delivery=recorder.on_delivery,
        on_reject=recorder.on_reject,
        ignore=ignore,
    )
    app.state.ops = Ops(settings, recorder, reader)
    app.add_middleware(AckTimer, recorder=recorder)
    # outermost, so that every log line of a request carries its id
    app.add_middleware(RequestIdMiddleware)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with inner(app):
            client = app.state.ingest.require_inbox().redis
            flusher = asyncio.create_task(recorder.run(client))
            try:
                yield
            finally:
                flusher.cancel()
                with suppress(asyncio.CancelledError):
                    await flusher
                await recorder.flush(client)
                reader.close()

    app.router.lifespan_context = lifespan
    return app
