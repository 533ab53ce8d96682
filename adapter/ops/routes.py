"""The operations endpoints: `/healthz`, `/readyz`, `/metrics`, `/status`, a delivery's
trace (`/status/trace/<digest>`), the replay action.

Reads go through the blocking Redis client of `adapter.ops.state`, so these endpoints
run in Starlette's thread pool (plain `def`, or `run_in_threadpool`) and never hold up
the event loop that serves the webhooks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import redis
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from adapter import events, metrics, redis_safety
from adapter.metrics import WebRecorder
from adapter.ops import auth
from adapter.ops.collector import CONTENT_TYPE, exposition
from adapter.ops.page import REPLAY_PATH, TRACE_PATH, Flash, View, render, render_trace
from adapter.ops.state import Reader
from adapter.settings import Settings
from workers import redrive, status
from workers.context import Context

FLASH_COOKIE = "adapter_flash"
RECENT_SHOWN = 30
WAITING_SHOWN = 30
REJECTED_SHOWN = 20
_DIGEST = re.compile(r"[0-9a-f]{64}")
MAX_FORM_BYTES = 4096
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Ops:
    """What the operations endpoints share (`app.state.ops`)."""

    settings: Settings
    recorder: WebRecorder
    reader: Reader


def _ops(request: Request) -> Ops:
    found: Ops = request.app.state.ops
    return found


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def readyz(request: Request) -> Response:
    reader = _ops(request).reader
    checks: dict[str, str] = {}
    if not reader.ping():
        checks["redis"] = "unreachable"
        checks["workers"] = "unknown (redis unreachable)"
    else:
        checks["redis"] = "ok"
        checks["redis_durability"] = redis_safety.check(
            reader.text, _ops(request).settings.redis_allow_no_aof
        ).describe()
        refused = redis_safety.probe_writes(reader.text)
        checks["redis_writes"] = (
            "ok"
            if refused is None
            else f"refused: {refused}; webhooks are answered 503 with Retry-After and "
            "the workers wait, resuming by themselves once Redis takes writes again"
        )
        try:
            alive = len(status.read_status(reader.text)["workers"])
        except redis.RedisError:
            alive = 0
        window = f"{status.HEARTBEAT_TTL:.0f}s"
        checks["workers"] = f"ok ({alive} alive)" if alive else f"no heartbeat in the last {window}"
        if _ops(request).settings.tenants:
            checks["tenants"] = _tenants_check(reader)
    ready = all(value.startswith("ok") for value in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def _metrics_allowed(request: Request, token: SecretStr | None) -> bool:
    """With METRICS_TOKEN set, a scrape must bring it as a Bearer token."""
    if token is None:
        return True
    given = auth.bearer(request)
    return given is not None and auth.token_matches(token, given)

def _tenants_check(reader: Reader) -> str:
    """Tenants whose CRM refuses their key are named, but the web side stays ready: it
    still takes every tenant's webhooks (those wait for the key), and taking it out of
    rotation would stop the other tenants too."""
    try:
        refused = [t.name for t in reader.tenant_states() if t.key_refused is not None]
    except redis.RedisError:
        return "unknown (redis error)"
    if not refused:
        return "ok"
    return f"ok (paused, the CRM refuses the API key of: {', '.join(refused)})"


async def metrics_endpoint(request: Request) -> Response:
    ops = _ops(request)
    if not _metrics_allowed(request, ops.settings.metrics_token):
        return Response(
            "send Authorization: Bearer <METRICS_TOKEN>\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    # this process's own latest counts first, so a scrape right after a request sees it
    await ops.recorder.flush(request.app.state.ingest.require_inbox().redis)
    try:
        text = await run_in_threadpool(exposition, ops.reader)
    except (redis.RedisError, OSError):
        return Response("redis unavailable\n", status_code=503, media_type="text/plain")
    return Response(text, media_type=CONTENT_TYPE)


def _page(text: str, status_code: int, **headers: str) -> HTMLResponse:
    body = f"<!doctype html><title>crm-adapter status</title><p>{text}</p>\n"
    return HTMLResponse(body, status_code=status_code, headers={**PAGE_HEADERS, **headers})


def _not_configured() -> Response:
    return _page("The status page is off: set <code>ADMIN_TOKEN</code> to turn it on.", 403)


def _unauthorized() -> Response:
    text = (
        "Log in with <code>/status?token=&lt;ADMIN_TOKEN&gt;</code>, or send "
        "<code>Authorization: Bearer &lt;ADMIN_TOKEN&gt;</code>."
    )
    return _page(text, 401, **{"WWW-Authenticate": 'Bearer realm="crm-adapter"'})


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _load_page(ops: Ops) -> View:
    reader = ops.reader
    recent = reader.tracer.recent(RECENT_SHOWN)
    around = reader.tracer.around(recent)
    return View(
        snapshot=reader.snapshot(),
        deliveries=metrics.read_counter(reader.text, metrics.DELIVERIES),
        recent=[reader.tracer.trace(record, around) for record in recent],
        letters=reader.deadletters.listing(limit=50),
        waiting=reader.downstream.waiting()[:WAITING_SHOWN],
        rejected=events.rejected(reader.text, REJECTED_SHOWN),
        minutes=metrics.read_minutes(reader.text),
    )


def _authenticated(request: Request) -> Response | None:
    """None when the request may see the pages, else the answer that says why not."""
    token = _ops(request).settings.admin_token
    if token is None:
        return _not_configured()
    if auth.authenticate(request, token) is None:
        return _unauthorized()
    return None


def _load_trace(ops: Ops, digest: str) -> Any:
    record = ops.reader.ledger.get(digest) if _DIGEST.fullmatch(digest) else None
    return ops.reader.tracer.trace(record) if record is not None else None


async def trace_page(request: Request) -> Response:
    refused = _authenticated(request)
    if refused is not None:
        return refused
    digest = request.path_params["digest"]
    try:
        trace = await run_in_threadpool(_load_trace, _ops(request), digest)
    except (redis.RedisError, OSError):
        return _page("Redis does not answer: nothing to show.", 503)
    if trace is None:
        return _page(
            "No such retained delivery (settled deliveries are kept for the "
            "retention time, then forgotten).",
            404,
        )
    return HTMLResponse(render_trace(trace), headers=PAGE_HEADERS)


async def status_page(request: Request) -> Response:
    ops = _ops(request)
    token = ops.settings.admin_token
    if token is None:
        return _not_configured()
    offered = request.query_params.get("token")
    if offered is not None:
        if not auth.token_matches(token, offered):
            return _unauthorized()
        # the token leaves the address bar at once; the cookie carries the session
        response = RedirectResponse("/status", status_code=303, headers=PAGE_HEADERS)
        response.set_cookie(
            auth.COOKIE,
            auth.new_cookie(token),
            max_age=auth.SESSION_SECONDS,
            path="/status",
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
        return response
    session = auth.authenticate(request, token)
    if session is None:
        return _unauthorized()
    await ops.recorder.flush(request.app.state.ingest.require_inbox().redis)
    try:
        view = await run_in_threadpool(_load_page, ops)
    except (redis.RedisError, OSError):
        return _page("Redis does not answer: nothing to show.", 503)
    flash = _read_flash(request.cookies.get(FLASH_COOKIE))
    html = render(view, session.csrf, flash)
    page = HTMLResponse(html, headers=PAGE_HEADERS)
    if flash is not None:
        page.delete_cookie(FLASH_COOKIE, path="/status")
    return page


def _read_flash(value: str | None) -> Flash | None:
    if not value:
        return None
    ok, _, text = value.partition(":")
    return Flash(text[:300], ok == "1")


def _replay(settings: Settings, letter_id: str) -> redrive.Replayed:
    ctx = Context(settings)
    try:
        return redrive.replay(ctx, letter_id)
    finally:
        ctx.close()


async def replay(request: Request) -> Response:
    ops = _ops(request)
    token = ops.settings.admin_token
    if token is None:
        return _not_configured()
    session = auth.authenticate(request, token)
    if session is None:
        return _unauthorized()
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _page("Form too large.", 413)
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if not auth.csrf_ok(session, request, form.get(auth.CSRF_FIELD)):
        return _page("Missing or wrong CSRF token: reload the status page and try again.", 403)
    letter_id = form.get("id", "").strip()
    if not letter_id:
        return _page("Which dead letter? The form has no id.", 400)
    try:
        result = await run_in_threadpool(_replay, ops.settings, letter_id)
    except (redis.RedisError, OSError):
        return _page("Redis does not answer: nothing was replayed.", 503)
    if session.cookie is None:
        answer = {"id": result.id, "ok": result.ok, "detail": result.detail}
        return JSONResponse(answer, status_code=200 if result.ok else 409)
    verb = "replayed" if result.ok else "not replayed"
    response = RedirectResponse("/status", status_code=303, headers=PAGE_HEADERS)
    response.set_cookie(
        FLASH_COOKIE,
        f"{'1' if result.ok else '0'}:{result.id}: {verb}: {result.detail}"[:300],
        max_age=60,
        path="/status",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


def ops_routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/status", status_page, methods=["GET"]),
        Route(REPLAY_PATH, replay, methods=["POST"]),
        Route(TRACE_PATH + "{digest}", trace_page, methods=["GET"]),
    ]
