"""How the app is put together: hooks, extra routes, the mapping's ignore rule, config checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import adapter.mapping
from adapter.app import create_app
from adapter.inbox import Inbox
from adapter.mapping.config import MappingConfig
from adapter.settings import FormAuth, FormConfig, Settings
from adapter.webhook import WebhookDelivery
from tests.app.conftest import SHOPIFY_SECRETS
from tests.app.signing import shopify_headers

BODY = b'{"id": 1}'
T = TypeVar("T")


def settings(redis_url: str, **extra: Any) -> Settings:
    return Settings(
        redis_url=redis_url,
        shopify_webhook_secrets=[SecretStr(s) for s in SHOPIFY_SECRETS],
        **extra,
    )


def run_app(app: Any, use: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://adapter") as client:
                return await use(client)

    return asyncio.run(main())


def test_on_outcome_sees_each_answer_with_topic_only_once_verified(redis_url: str) -> None:
    seen: list[tuple[str, str, str]] = []
    app = create_app(
        settings(redis_url),
        ignore=lambda delivery: None,
        on_outcome=lambda *outcome: seen.append(outcome),
    )

    async def posts(client: httpx.AsyncClient) -> None:
        headers = shopify_headers(BODY, webhook_id="wh-1")
        await client.post("/webhooks/shopify", content=BODY, headers=headers)
        await client.post("/webhooks/shopify", content=BODY, headers=headers)
        await client.post("/webhooks/shopify", content=BODY, headers={"X-Shopify-Topic": "x"})
        await client.post("/webhooks/paypal", content=BODY)

    run_app(app, posts)
    assert seen == [
        ("shopify", "orders/create", "queued"),
        ("shopify", "orders/create", "duplicate"),
        ("shopify", "", "unauthorized"),
        ("unknown", "", "not_found"),
    ]


def test_failing_outcome_hook_does_not_fail_the_delivery(redis_url: str) -> None:
    def broken(source: str, topic: str, outcome: str) -> None:
        raise RuntimeError("metrics backend down")

    app = create_app(settings(redis_url), ignore=lambda delivery: None, on_outcome=broken)

    async def post(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/webhooks/shopify", content=BODY, headers=shopify_headers(BODY))

    assert run_app(app, post).status_code == 202


def test_default_ignore_rule_is_the_mappings(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[WebhookDelivery, MappingConfig]] = []

    def ignore_reason(delivery: WebhookDelivery, config: MappingConfig) -> str | None:
        calls.append((delivery, config))
        return "not handled here"

    monkeypatch.setattr(adapter.mapping, "ignore_reason", ignore_reason)
    config = settings(redis_url)
    app = create_app(config)

    async def post(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/webhooks/shopify", content=BODY, headers=shopify_headers(BODY))

    response = run_app(app, post)
    assert response.json() == {"status": "ignored", "reason": "not handled here"}
    assert calls[0][0].topic == "orders/create"
    assert calls[0][1] is config.mapping


def test_extra_routes_are_served_after_the_webhooks(redis_url: str) -> None:
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = create_app(settings(redis_url), routes=[Route("/healthz", healthz)])

    async def get(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/healthz")

    assert run_app(app, get).text == "ok"


def test_live_inbox_is_exposed_for_readiness_checks(redis_url: str) -> None:
    app = create_app(settings(redis_url))

    async def ping(client: httpx.AsyncClient) -> bool:
        inbox: Inbox = app.state.ingest.require_inbox()
        return await inbox.ping()

    assert run_app(app, ping) is True


def test_invalid_standard_webhooks_secret_fails_at_creation(redis_url: str) -> None:
    form = FormConfig(
        auth=FormAuth(kind="standard_webhooks", secrets=[SecretStr("whsec_###")]),
    )
    with pytest.raises(ValueError, match="whsec_"):
        create_app(settings(redis_url, forms={"signed": form}))
