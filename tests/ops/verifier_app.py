"""A stand-in receiver that checks signatures with the providers' own libraries.

Run by tests as `uvicorn tests.ops.verifier_app:app`; secrets come from the
environment, and every delivery that arrives is appended to $VERIFIER_LOG as JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

import standardwebhooks
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _record(kind: str, request: Request, body: bytes, verified: bool) -> JSONResponse:
    entry = {
        "kind": kind,
        "path": request.url.path,
        "headers": dict(request.headers),
        "body": body.decode(),
        "verified": verified,
    }
    with open(os.environ["VERIFIER_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    return JSONResponse({"verified": verified}, status_code=202 if verified else 401)


async def shopify(request: Request) -> JSONResponse:
    body = await request.body()
    expected = base64.b64encode(
        hmac.new(os.environ["SHOPIFY_SECRET"].encode(), body, hashlib.sha256).digest()
    ).decode()
    offered = request.headers.get("x-shopify-hmac-sha256", "")
    return _record("shopify", request, body, hmac.compare_digest(expected, offered))


async def stripe_hook(request: Request) -> JSONResponse:
    body = await request.body()
    try:
        stripe.Webhook.construct_event(
            body, request.headers.get("stripe-signature", ""), os.environ["STRIPE_SECRET"]
        )
    except (stripe.SignatureVerificationError, ValueError):
        return _record("stripe", request, body, False)
    return _record("stripe", request, body, True)


async def form(request: Request) -> JSONResponse:
    body = await request.body()
    form_id = request.path_params["form_id"]
    if form_id == "sw":
        try:
            standardwebhooks.Webhook(os.environ["SW_SECRET"]).verify(body, dict(request.headers))
            verified = True
        except standardwebhooks.WebhookVerificationError:
            verified = False
    elif form_id == "signed":
        digest = hmac.new(os.environ["HMAC_SECRET"].encode(), body, hashlib.sha256).hexdigest()
        verified = hmac.compare_digest(f"sha256={digest}", request.headers.get("x-signature", ""))
    else:
        verified = hmac.compare_digest(
            os.environ["FORM_TOKEN"], request.headers.get(os.environ["TOKEN_HEADER"], "")
        )
    return _record(f"form:{form_id}", request, body, verified)


app = Starlette(
    routes=[
        Route("/webhooks/shopify", shopify, methods=["POST"]),
        Route("/webhooks/stripe", stripe_hook, methods=["POST"]),
        Route("/webhooks/forms/{form_id}", form, methods=["POST"]),
    ]
)
