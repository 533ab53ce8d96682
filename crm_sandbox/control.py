"""/_sandbox: organisations, reset, stats, the request log and faults. No key, never rate
limited or counted."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crm_sandbox.call import load_json
from crm_sandbox.faults import FaultSettings, FaultSettingsError
from crm_sandbox.sandbox import KeyTakenError, Sandbox


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    return load_json(body)


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status)


async def create_org(request: Request) -> Response:
    try:
        data = await _json_body(request)
    except ValueError:
        return _bad("Invalid JSON body")
    if not isinstance(data, dict):
        return _bad("Request body must be a JSON object")
    name, api_key = data.get("name", "org"), data.get("api_key")
    if not isinstance(name, str) or not name:
        return _bad("name must be a non-empty string")
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        return _bad("api_key must be a non-empty string")
    try:
        org, key = await run_in_threadpool(_sandbox(request).create_org, name, api_key)
    except KeyTakenError as exc:
        return _bad(str(exc), 409)
    return JSONResponse(org.to_json(key), 201)


async def _api_key(request: Request) -> str | JSONResponse:
    try:
        data = await _json_body(request)
    except ValueError:
        return _bad("Invalid JSON body")
    api_key = data.get("api_key") if isinstance(data, dict) else None
    if not isinstance(api_key, str) or not api_key:
        return _bad("api_key must be a non-empty string")
    return api_key


async def revoke_key(request: Request) -> Response:
    api_key = await _api_key(request)
    if isinstance(api_key, JSONResponse):
        return api_key
    org_id = await run_in_threadpool(_sandbox(request).revoke_key, api_key)
    if org_id is None:
        return _bad("no such api_key", 404)
    return JSONResponse({"org_id": org_id, "revoked": True})


async def add_key(request: Request) -> Response:
    api_key = await _api_key(request)
    if isinstance(api_key, JSONResponse):
        return api_key
    org_id = request.path_params["org_id"]
    try:
        org = await run_in_threadpool(_sandbox(request).add_key, org_id, api_key)
    except KeyTakenError as exc:
        return _bad(str(exc), 409)
    if org is None:
        return _bad("no such organisation", 404)
    return JSONResponse(org.to_json(api_key), 201)


async def reset(request: Request) -> Response:
    await run_in_threadpool(_sandbox(request).reset)
    return Response(status_code=204)


async def stats(request: Request) -> Response:
    return JSONResponse(_sandbox(request).stats.to_json())


async def requests(request: Request) -> Response:
    try:
        after = int(request.query_params.get("after", "0"))
    except ValueError:
        return _bad("after must be an integer")
    return JSONResponse({"requests": _sandbox(request).stats.log(after)})


async def faults(request: Request) -> Response:
    injector = _sandbox(request).faults
    if request.method == "POST":
        try:
            injector.configure(FaultSettings.from_json(await _json_body(request)))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc) if isinstance(exc, FaultSettingsError) else "Invalid JSON body")
    return JSONResponse(injector.settings.to_json())


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


routes = [
    Route("/orgs", create_org, methods=["POST"]),
    Route("/orgs/{org_id}/keys", add_key, methods=["POST"]),
    Route("/keys/revoke", revoke_key, methods=["POST"]),
    Route("/reset", reset, methods=["POST"]),
    Route("/stats", stats, methods=["GET"]),
    Route("/requests", requests, methods=["GET"]),
    Route("/faults", faults, methods=["GET", "POST"]),
    Route("/health", health, methods=["GET"]),
]
