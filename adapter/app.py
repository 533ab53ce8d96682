"""The web side: `create_app(settings)` serves the webhook endpoints.

Every endpoint checks in the same order: size (while the body streams in) → signature
(on the raw bytes) → parse → identify → ignore? → dedupe + durable enqueue. Nothing
answers 2xx unless the delivery is in Redis (or deliberately dropped: ignored, spam).

Extension points for operations: `create_app(..., routes=[...])` appends routes after
the webhook ones (health, metrics), `on_outcome(source, topic, outcome)` is called once
per request with the result (`queued`, `duplicate`, `ignored`, `spam` or an error kind),
`on_delivery(delivery, outcome)` once per verified delivery (`queued`, `duplicate`,
`ignored`), `on_reject(source, status, reason)` once per refused request (the
reason is our own text: no header or body), and `app.state.ingest.inbox` is the live
Inbox (its `ping()` tells whether Redis answers).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapter import mapping
from adapter.inbox import Bell, Inbox, connect
from adapter.redis_connection import TlsFiles
from adapter.settings import Settings
from adapter.sources import forms, paymob, salla, shopify, stripe, woocommerce
from adapter.sources.body import parse_json_object, read_signed
from adapter.sources.errors import (
    BodyTooLarge,
    IngestError,
    InvalidPayload,
    QueueUnavailable,
    SourceNotConfigured,
    UnknownEndpoint,
)
from adapter.store_settings import STORE_KEY
from adapter.webhook import WebhookDelivery

log = logging.getLogger(__name__)

# (source, topic, outcome): topic is "" until the delivery is verified and identified
OutcomeHook = Callable[[str, str, str], None]
# a verified delivery and its outcome
DeliveryHook = Callable[[WebhookDelivery, str], None]
# a refused request: (source, HTTP status, our reason)
RejectHook = Callable[[str, int, str], None]
# why a verified delivery is not handled, or None to queue it
IgnorePredicate = Callable[[WebhookDelivery], str | None]


def _no_hook(source: str, topic: str, outcome: str) -> None:
    return None


def _no_delivery_hook(delivery: WebhookDelivery, outcome: str) -> None:
    return None


def _no_reject_hook(source: str, status: int, reason: str) -> None:
    return None


@dataclass
class Ingest:
    """What the endpoints share: settings, the inbox (set while the app runs), the hooks."""

    settings: Settings
    ignore: IgnorePredicate
    on_outcome: OutcomeHook = _no_hook
    on_delivery: DeliveryHook = _no_delivery_hook
    on_reject: RejectHook = _no_reject_hook
    inbox: Inbox | None = field(default=None)

    def require_inbox(self) -> Inbox:
        if self.inbox is None:
            raise QueueUnavailable("queue not connected yet, retry later")
        return self.inbox


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, str]
    topic: str
    outcome: str


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise InvalidPayload("invalid Content-Length header")
        if int(declared) > limit:
            raise BodyTooLarge(f"body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"body exceeds {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidPayload("client disconnected before the body was complete") from None
    return b"".join(chunks)


async def _accept(
    ingest: Ingest, delivery: WebhookDelivery, queued_status: int = 202, body: bytes | None = None
) -> Answer:
    """`body`: the JSON text the payload was parsed from, which the job then quotes."""
    reason = ingest.ignore(delivery)
    if reason is not None:
        _report_delivery(ingest, delivery, "ignored")
        return Answer(200, {"status": "ignored", "reason": reason}, delivery.topic, "ignored")
    outcome = await ingest.require_inbox().put(delivery, payload_json=body)
    _report_delivery(ingest, delivery, outcome)
    status = queued_status if outcome == "queued" else 200
    return Answer(status, {"status": outcome}, delivery.topic, outcome)


def _now() -> datetime:
    return datetime.now(UTC)


def _headers(request: Request) -> dict[str, str]:
    # one plain dict per request: Starlette's Headers scans its list on every lookup
    return dict(request.headers.items())


async def _shopify(request: Request, ingest: Ingest) -> Answer:
    settings = ingest.settings
    if not settings.shopify_webhook_secrets and not settings.shopify_shop_secrets:
        raise SourceNotConfigured("no secret configured for shopify")
    body = await read_body(request, settings.max_body_bytes)
    headers = _headers(request)
    keys = shopify.signing_keys(
        settings.shopify_webhook_secrets,
        settings.shopify_shop_secrets,
        shopify.shop_domain(headers),
    )
    shopify.verify(body, headers, keys)
    payload = parse_json_object(body)
    delivery = shopify.identify(body, payload, headers, _now())
    privacy = delivery.topic in shopify.PRIVACY_TOPICS
    return await _accept(ingest, delivery, queued_status=200 if privacy else 202, body=body)


async def _stripe(request: Request, ingest: Ingest) -> Answer:
    settings = ingest.settings
    if not settings.stripe_webhook_secrets:
        raise SourceNotConfigured("no secret configured for stripe")
    body = await read_body(request, settings.max_body_bytes)
    keys = [secret.get_secret_value().encode("utf-8") for secret in settings.stripe_webhook_secrets]
    headers = _headers(request)
    stripe.verify(body, headers, keys, settings.stripe_tolerance_seconds)
    payload = parse_json_object(body)
    delivery = stripe.identify(body, payload, headers, _now())
    return await _accept(ingest, delivery, body=body)


async def _form(request: Request, ingest: Ingest) -> Answer:
    form_id = request.path_params["form_id"]
    form = ingest.settings.forms.get(form_id)
    if form is None:
        raise UnknownEndpoint("unknown form")
    body = await read_body(request, ingest.settings.max_body_bytes)
    headers = _headers(request)
    forms.verify(body, headers, form.auth)
    payload = forms.parse(body, headers.get("content-type", ""))
    if forms.is_spam(payload, form):
        await ingest.require_inbox().count_spam(form_id)
        return Answer(200, {"status": "spam"}, form_id, "spam")
    delivery = forms.identify(form_id, body, payload, headers, form.auth, _now())
    return await _accept(ingest, delivery)


def _store_key(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if not STORE_KEY.fullmatch(value):
        raise UnknownEndpoint(f"unknown {name}")
    return value


async def _woocommerce(request: Request, ingest: Ingest) -> Answer:
    settings = ingest.settings
    if not settings.woocommerce_webhook_secrets and not settings.woocommerce_stores:
        raise SourceNotConfigured("no secret configured for woocommerce")
    store = _store_key(request, "store")
    body = await read_body(request, settings.max_body_bytes)
    headers = _headers(request)
    if woocommerce.is_ping(body, headers):
        # WooCommerce activates a new webhook only when this answers exactly 200
        return Answer(200, {"status": "ping"}, "ping", "ignored")
    keys = woocommerce.signing_keys(
        settings.woocommerce_webhook_secrets, settings.woocommerce_stores.get(store)
    )
    woocommerce.verify(body, headers, keys)
    payload, readable = read_signed(body)
    delivery = woocommerce.identify(store, body, payload, headers, _now())
    return await _accept(ingest, delivery, body=body if readable else None)


async def _salla(request: Request, ingest: Ingest) -> Answer:
    settings = ingest.settings
    if not (
        settings.salla_webhook_secrets or settings.salla_webhook_tokens or settings.salla_merchants
    ):
        raise SourceNotConfigured("no secret or token configured for salla")
    body = await read_body(request, settings.max_body_bytes)
    headers = _headers(request)
    merchant = salla.merchant_hint(body)
    secrets = salla.keys(
        settings.salla_webhook_secrets, settings.salla_merchants, merchant, tokens=False
    )
    tokens = salla.keys(
        settings.salla_webhook_tokens, settings.salla_merchants, merchant, tokens=True
    )
    salla.verify(body, headers, secrets, tokens)
    payload, readable = read_signed(body)
    delivery = salla.identify(body, payload, headers, _now())
    return await _accept(ingest, delivery, body=body if readable else None)


async def _paymob(request: Request, ingest: Ingest) -> Answer:
    settings = ingest.settings
    if not settings.paymob_hmac_secrets and not settings.paymob_integrations:
        raise SourceNotConfigured("no HMAC secret configured for paymob")
    integration = _store_key(request, "integration")
    offered = paymob.offered_hmac(request.query_params)
    body = await read_body(request, settings.max_body_bytes)
    payload = parse_json_object(body)
    keys = paymob.signing_keys(
        settings.paymob_hmac_secrets, settings.paymob_integrations.get(integration)
    )
    paymob.verify(payload, offered, keys)
    delivery = paymob.identify(integration, payload, _now())
    return await _accept(ingest, delivery, body=body)


async def _unknown_source(request: Request, ingest: Ingest) -> Answer:
    raise UnknownEndpoint("unknown webhook source")


Handler = Callable[[Request, Ingest], Awaitable[Answer]]


def _report(ingest: Ingest, source: str, topic: str, outcome: str) -> None:
    try:
        ingest.on_outcome(source, topic, outcome)
    except Exception:
        # a metrics hook must not turn a queued delivery into a 500 (and a provider retry)
        log.exception("on_outcome hook failed")


def _report_delivery(ingest: Ingest, delivery: WebhookDelivery, outcome: str) -> None:
    try:
        ingest.on_delivery(delivery, outcome)
    except Exception:
        log.exception("on_delivery hook failed")


def _json_answer(answer: Answer) -> Response:
    # the bytes JSONResponse would send ({"status":"queued"}), without the JSONEncoder
    # it builds for every response
    return Response(orjson.dumps(answer.body), answer.status, media_type="application/json")


def _endpoint(source: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ingest: Ingest = request.app.state.ingest
        try:
            answer = await handler(request, ingest)
        except IngestError as exc:
            log.info("refused %s delivery: %s (%s)", source, exc.kind, exc.reason)
            _report(ingest, source, "", exc.kind)
            try:
                ingest.on_reject(source, exc.status, exc.reason)
            except Exception:
                log.exception("on_reject hook failed")
            headers = None
            if isinstance(exc, QueueUnavailable):
                headers = {"Retry-After": str(exc.retry_after_seconds)}
            return JSONResponse({"error": exc.reason}, status_code=exc.status, headers=headers)
        _report(ingest, source, answer.topic, answer.outcome)
        return _json_answer(answer)

    return endpoint


def webhook_routes() -> list[BaseRoute]:
    """Each path also with a trailing slash, answered the same: providers do not follow
    the redirect Starlette would otherwise answer."""
    endpoints = [
        ("/webhooks/shopify", _endpoint("shopify", _shopify)),
        ("/webhooks/stripe", _endpoint("stripe", _stripe)),
        ("/webhooks/forms/{form_id}", _endpoint("form", _form)),
        ("/webhooks/woocommerce/{store}", _endpoint("woocommerce", _woocommerce)),
        ("/webhooks/salla", _endpoint("salla", _salla)),
        ("/webhooks/paymob/{integration}", _endpoint("paymob", _paymob)),
        ("/webhooks/{source}", _endpoint("unknown", _unknown_source)),
    ]
    return [
        Route(path + slash, endpoint, methods=["POST"])
        for path, endpoint in endpoints
        for slash in ("", "/")
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    reasons = {404: "not found", 405: "method not allowed"}
    return JSONResponse({"error": reasons.get(status, "request failed")}, status_code=status)


async def _server_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "internal error"}, status_code=500)


def create_app(
    settings: Settings,
    *,
    routes: Sequence[BaseRoute] = (),
    on_outcome: OutcomeHook | None = None,
    ignore: IgnorePredicate | None = None,
    on_delivery: DeliveryHook | None = None,
    on_reject: RejectHook | None = None,
) -> Starlette:
    """The ASGI app. `routes` are added after the webhook routes; `ignore` replaces
    `adapter.mapping.ignore_reason` (tests only); `on_outcome` sees every answer,
    `on_delivery` every verified delivery."""
    for form in settings.forms.values():
        forms.check_auth(form.auth)

    def ignore_by_mapping(delivery: WebhookDelivery) -> str | None:
        return mapping.ignore_reason(delivery, settings.mapping)

    ingest = Ingest(
        settings=settings,
        ignore=ignore or ignore_by_mapping,
        on_outcome=on_outcome or _no_hook,
        on_delivery=on_delivery or _no_delivery_hook,
        on_reject=on_reject or _no_reject_hook,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ingest.inbox = Inbox(
            connect(settings.redis_url, TlsFiles.from_settings(settings)),
            dedupe_ttl_seconds=settings.dedupe_ttl_seconds,
            bell=Bell(settings.redis_url, TlsFiles.from_settings(settings)),
        )
        try:
            yield
        finally:
            inbox, ingest.inbox = ingest.inbox, None
            await inbox.aclose()

    app = Starlette(
        routes=[*webhook_routes(), *routes],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, 500: _server_error},
    )
    app.state.ingest = ingest
    return app
