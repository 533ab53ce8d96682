"""The benchmark's server: the real app plus a bare endpoint that only verifies the HMAC.

Both are served by the same uvicorn process, as `adapter serve` builds it (request-id
middleware, metrics hooks and all), so the ratio of their throughputs is what
verification-only costs against the whole ingestion path (parse, identify, dedupe,
durable enqueue).
"""

from __future__ import annotations

import gc

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapter.ops import create_served_app
from adapter.settings import load_settings
from adapter.sources import shopify
from adapter.sources.errors import VerificationError

BARE_PATH = "/bench/bare"


def create() -> Starlette:
    settings = load_settings()
    keys = [secret.get_secret_value().encode() for secret in settings.shopify_webhook_secrets]

    async def bare(request: Request) -> Response:
        body = await request.body()
        try:
            shopify.verify(body, request.headers, keys)
        except VerificationError as exc:
            return JSONResponse({"error": exc.reason}, status_code=401)
        return JSONResponse({"status": "queued"}, status_code=202)

    app = create_served_app(settings, routes=[Route(BARE_PATH, bare, methods=["POST"])])
    gc.freeze()  # as `adapter serve`'s factory does (adapter/cli/serve.py)
    return app
