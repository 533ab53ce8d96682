"""The baseline: a bare Starlette app that verifies the Shopify HMAC and answers 202.

What a minimal hand-written receiver does, and nothing more: no parsing, no dedupe, no
storage. Run as `uvicorn bench.wrk.bare:create --factory`, with the secrets in
SHOPIFY_WEBHOOK_SECRETS (comma-separated), as `adapter serve` takes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PATH = "/webhooks/shopify"


def create() -> Starlette:
    secrets = [
        part.strip().encode()
        for part in os.environ.get("SHOPIFY_WEBHOOK_SECRETS", "").split(",")
        if part.strip()
    ]

    async def shopify(request: Request) -> Response:
        body = await request.body()
        offered = request.headers.get("x-shopify-hmac-sha256", "").encode()
        for secret in secrets:
            expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
            if hmac.compare_digest(expected, offered):
                return JSONResponse({"status": "queued"}, status_code=202)
        return JSONResponse({"error": "invalid signature"}, status_code=401)

    return Starlette(routes=[Route(PATH, shopify, methods=["POST"])])
