"""Shared by the operations tests: settings, signed requests, a served app under uvicorn."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis
from pydantic import SecretStr

from adapter.samples import load_sample
from adapter.settings import Settings
from adapter.webhook import WebhookDelivery
from tests.support.processes import Process, free_port
from workers.deadletters import DeadLetters, delivery_letter

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "ops-admin-token-0123456789abcdef"
SHOPIFY_SECRET = "shpss_ops_tests_secret"
SHOP = "ops-test.myshopify.com"
T = TypeVar("T")


def settings(redis_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "shopify_webhook_secrets": [SecretStr(SHOPIFY_SECRET)],
        "admin_token": SecretStr(ADMIN_TOKEN),
        **extra,
    }
    return Settings(**values)


def order_body() -> bytes:
    return json.dumps(load_sample("shopify", "orders/create")).encode()


def shopify_headers(
    body: bytes, topic: str = "orders/create", webhook_id: str | None = None
) -> dict[str, str]:
    digest = hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        "X-Shopify-API-Version": "2026-07",
    }


def server_env(redis_url: str, admin_token: str | None = ADMIN_TOKEN) -> dict[str, str]:
    env = {
        "REDIS_URL": redis_url,
        "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
        "ADAPTER_CONFIG": "",
        "LOG_LEVEL": "WARNING",
    }
    if admin_token is not None:
        env["ADMIN_TOKEN"] = admin_token
    return env


@dataclass
class Served:
    process: Process
    url: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20)


def serve(redis_url: str, workdir: Path, *uvicorn_args: str) -> Served:
    """`adapter serve`'s app factory under a real uvicorn on a free loopback port."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "adapter.cli.serve:app_from_environment"]
    argv += ["--factory", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    argv += list(uvicorn_args)
    process = Process(
        argv, port, env=server_env(redis_url), log_path=workdir / "server.log", cwd=ROOT
    ).start(timeout=60)
    return Served(process, f"http://127.0.0.1:{port}")


def put_dead_letter(connection: redis.Redis, delivery_id: str = "dead-1") -> str:
    """A delivery dead-lettered by the workers (mappable now, so a replay succeeds)."""
    delivery = WebhookDelivery(
        source="shopify",
        topic="orders/create",
        delivery_id=delivery_id,
        received_at=datetime.now(UTC),
        shop_domain=SHOP,
        headers={},
        payload=load_sample("shopify", "orders/create"),
    )
    letter = delivery_letter(delivery.model_dump(mode="json"), "mapping failed: no line items")
    return DeadLetters(connection).put(letter)


def run_app(app: Any, use: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run `use` against the app in this process, inside its lifespan."""

    async def main() -> T:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://adapter") as client:
                return await use(client)

    return asyncio.run(main())
