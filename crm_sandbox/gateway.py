"""/functions/v1: key check, faults, the rate limit, then the CRM function or rest-api-proxy.

The order of checks: unknown function 404, bad key 401, injected 429, rate limit 429,
latency, injected 500 before the write, the handler (in a worker thread), injected 500
after the write, and the held answer of a hang.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from crm_sandbox import proxy
from crm_sandbox.call import NO_BODY, Call, Reply
from crm_sandbox.errors import SandboxError
from crm_sandbox.functions import create_deals, import_contacts, leads, search
from crm_sandbox.sandbox import Sandbox
from crm_sandbox.store import Store

log = logging.getLogger("crm_sandbox")

Handler = Callable[[Store, Call], Reply]

FUNCTIONS: dict[str, Handler] = {
    "/create-lead": leads.handle_one,
    "/create-leads-bulk": leads.handle_bulk,
    "/import-contacts-bulk": import_contacts.handle,
    "/create-deals-bulk": create_deals.handle,
    "/search-contacts": search.handle,
}
PROXY_PREFIX = "/rest-api-proxy/"
INJECTED = {"error": "Internal server error", "details": "injected fault"}


def render(reply: Reply) -> Response:
    if reply.body is NO_BODY:
        return Response(status_code=reply.status, headers=reply.headers)
    content = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":"))
    return Response(content, reply.status, reply.headers, media_type="application/json")


def _error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return render(Reply(status, body, headers or {}))


def _route(path: str) -> Handler | None:
    if path.startswith(PROXY_PREFIX) and "/" not in path[len(PROXY_PREFIX) :]:
        table = path[len(PROXY_PREFIX) :]
        return partial(_proxy, table=table) if table else None
    return FUNCTIONS.get(path)


def _proxy(store: Store, call: Call, table: str) -> Reply:
    return proxy.handle(store, call, table)


async def api(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    path = "/" + request.path_params["path"]
    started = time.perf_counter()
    response, hold = await _answer(sandbox, request, path)
    org_id = sandbox.org_for_key(request.headers.get("x-api-key", ""))
    rows = getattr(request.state, "bulk_rows", None)
    sandbox.stats.request(
        request.method, path, response.status_code, org_id, request.url.query, rows
    )
    # Paths only: query strings carry emails and phones, which stay out of logs.
    log.info(
        "%s %s %d %.1fms",
        request.method,
        path,
        response.status_code,
        (time.perf_counter() - started) * 1000,
    )
    if hold:
        await sandbox.sleep(hold)
    return response


async def _answer(sandbox: Sandbox, request: Request, path: str) -> tuple[Response, float]:
    handler = _route(path)
    if handler is None:
        body = {"code": "NOT_FOUND", "message": "Requested function was not found"}
        return _error(404, body), 0
    key = request.headers.get("x-api-key", "")
    org_id = sandbox.org_for_key(key)
    if org_id is None:
        return _error(401, {"error": "Unauthorized"}), 0
    fault = sandbox.faults.draw()
    if fault == "rate_limit":
        sandbox.stats.fault(fault)
        return _error(429, {"error": "rate limit"}, {"Retry-After": "1"}), 0
    wait = sandbox.limiter.admit(key, sandbox.monotonic())
    if wait is not None:
        sandbox.stats.rate_limited()
        return _error(429, {"error": "rate limit"}, {"Retry-After": str(wait)}), 0
    settings = sandbox.faults.settings
    if settings.latency_ms:
        await sandbox.sleep(settings.latency_ms / 1000)
    if fault == "error_before":
        sandbox.stats.fault(fault)
        return _error(500, INJECTED), 0
    reply = await _handle(sandbox, request, path, org_id, handler)
    if fault == "error_after":
        sandbox.stats.fault(fault)
        return _error(500, INJECTED), 0
    if fault == "hang":
        sandbox.stats.fault(fault)
        return render(reply), settings.hang_seconds
    return render(reply), 0


async def _handle(
    sandbox: Sandbox, request: Request, path: str, org_id: str, handler: Handler
) -> Reply:
    if not path.startswith(PROXY_PREFIX) and request.method != "POST":
        return Reply(405, {"error": "Method not allowed"})
    call = Call(
        org_id=org_id,
        method=request.method,
        path=path,
        query=request.query_params.multi_items(),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
        now=sandbox.now(),
    )
    try:
        return await run_in_threadpool(handler, sandbox.store, call)
    except SandboxError as exc:
        return Reply(exc.status, exc.body(), exc.headers())
    except Exception as exc:
        log.exception("unexpected error in %s %s", request.method, path)
        return Reply(500, {"error": "Internal server error", "details": type(exc).__name__})
    finally:
        if "bulk_rows" in call.observed:
            sandbox.stats.bulk_rows(path, call.observed["bulk_rows"])
            request.state.bulk_rows = call.observed["bulk_rows"]
