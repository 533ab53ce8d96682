"""The sandbox as an ASGI app: `create_app(...)` for uvicorn, tests and the dev mode."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from crm_sandbox import control, gateway
from crm_sandbox.faults import FaultSettings
from crm_sandbox.ratelimit import DEFAULT_PER_MINUTE
from crm_sandbox.records import utc_now
from crm_sandbox.sandbox import DEV_KEY, Sandbox
from crm_sandbox.store import Store

API_PREFIX = "/functions/v1"
_METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]


def create_app(
    *,
    db_path: str | None = None,
    api_keys: Sequence[str] = (),
    rate_limit: int = DEFAULT_PER_MINUTE,
    faults: FaultSettings | None = None,
    dev_key: bool = True,
    monotonic: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Starlette:
    """A CRM emulator serving the production paths under /functions/v1.

    `api_keys` (and, unless `dev_key=False`, `cg_sandbox_dev_key`) belong to the
    default organisation; `app.state.sandbox` is the `Sandbox` for direct control.
    In memory unless `db_path` names a SQLite file. `rate_limit` 0 turns the limit off.
    """
    sandbox = Sandbox(Store(db_path), rate_limit, faults, monotonic, wall_clock, sleep)
    sandbox.ensure_default_org([*api_keys, *([DEV_KEY] if dev_key else [])])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        sandbox.store.close()

    app = Starlette(
        routes=[
            Route(API_PREFIX + "/{path:path}", gateway.api, methods=_METHODS),
            Mount("/_sandbox", routes=control.routes),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    return app
