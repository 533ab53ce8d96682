"""The web app end to end with arbitrary, correctly signed bodies (httpx ASGITransport, a
real redis-server): never a 500; a delivery is queued only when it is answered "queued"; and
what was queued survives the queue's JSON round trip and maps to commands the contract
accepts (or to a MappingError), as a worker would see it.

The mapping's own property tests (tests/mapping/test_properties.py) feed payloads to the
mappers directly; these go through signing, parsing, identification and the queue.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import SecretStr

from adapter.app import create_app
from adapter.crm.commands import command_from_json
from adapter.mapping import MappingError, map_delivery
from adapter.mapping.config import SHOPIFY_TOPICS, STRIPE_EVENTS
from adapter.settings import FormAuth, FormConfig, Settings
from adapter.signing import form_headers, shopify_headers, stripe_headers
from adapter.webhook import WebhookDelivery
from tests.support.ledger import stored_deliveries
from tests.support.processes import Process

pytestmark = pytest.mark.slow

SHOPIFY_SECRET = "shpss_fuzz_app"
STRIPE_SECRET = "whsec_fuzz_app"
FORM = FormConfig(
    name="Fuzz form",
    auth=FormAuth(kind="hmac", secrets=[SecretStr("fuzz-form-secret")]),
    honeypot_field="website",
)
ANSWERS = {200, 202, 400, 413, 415}
KEYS = ["id", "type", "email", "phone", "name", "total_price", "currency", "financial_status",
        "updated_at", "created", "customer", "data", "object", "payment_intent", "amount",
        "amount_total", "customer_details", "receipt_email", "token", "line_items", "price",
        "quantity", "submission_id", "message", "website", "livemode"]  # fmt: skip
SCALARS = ["", "a@example.com", "+201017177777", "19.99", "1e400", "paid", "usd",
           "2026-11-28T10:00:00Z", "\x00", "\ud800", "\udfff", "\ufeff", "é" * 40]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(SCALARS)
    | st.text(max_size=20)  # lone surrogates included
)
keys = st.sampled_from(KEYS) | st.text(max_size=10)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=20,
)
objects = st.dictionaries(keys, values, max_size=8)


def encode(value: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as a \\ud800 escape, as any JSON encoder may
    return json.dumps(value).encode("ascii")


stripe_events = st.fixed_dictionaries(
    {
        "id": st.sampled_from(SCALARS)
        | st.text(max_size=30)
        | st.builds(lambda: "evt_" + uuid.uuid4().hex),
        "type": st.sampled_from(STRIPE_EVENTS) | st.text(max_size=20),
        "created": st.integers(min_value=0, max_value=2**40) | scalars,
        "data": st.fixed_dictionaries({"object": objects}) | values,
    },
    optional={"livemode": st.booleans()},
).map(encode)
bodies = st.binary(max_size=300) | objects.map(encode) | values.map(encode)


@pytest.fixture(scope="module")
def redis_db(redis_process: Process) -> Iterator[str]:
    """A database of the session's redis-server of its own, for the whole module
    (Hypothesis runs many examples inside one test call)."""
    url = f"redis://127.0.0.1:{redis_process.port}/7"
    store = redis.Redis.from_url(url)
    store.flushdb()
    yield url
    store.flushdb()
    store.close()


def settings(url: str) -> Settings:
    return Settings(
        redis_url=url,
        shopify_webhook_secrets=[SecretStr(SHOPIFY_SECRET)],
        stripe_webhook_secrets=[SecretStr(STRIPE_SECRET)],
        forms={"lead": FORM},
        max_body_bytes=1024,
    )


async def _post(
    config: Settings, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://adapter") as client:
            response = await client.post(path, content=body, headers=headers)
    return response.status_code, response.json()


def post(config: Settings, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    return asyncio.run(_post(config, path, body, headers))


def queued_jobs(url: str) -> list[Any]:
    store = redis.Redis.from_url(url)
    try:
        return stored_deliveries(store)
    finally:
        store.close()


def check_round_trip(raw: Any, config: Settings) -> None:
    """What a worker does with a queued delivery: validate, map, store the commands."""
    delivery = WebhookDelivery.model_validate(raw)
    try:
        commands = map_delivery(delivery, config.mapping, config.forms)
    except MappingError:
        return
    for command in commands:
        text = command.model_dump_json()
        text.encode("utf-8")
        assert command_from_json(text) == command


def check(url: str, path: str, body: bytes, headers: dict[str, str]) -> None:
    config = settings(url)
    before = queued_jobs(url)
    status, answer = post(config, path, body, headers)
    after = queued_jobs(url)

    assert status in ANSWERS, (status, answer)
    added = after[len(before) :]
    assert len(added) == (1 if answer == {"status": "queued"} else 0)
    for raw in added:
        check_round_trip(raw, config)
    # the queue stays small: the module's examples share it
    if len(after) > 50:
        redis.Redis.from_url(url).flushdb()


@given(st.sampled_from(SHOPIFY_TOPICS) | st.text(max_size=20), bodies)
def test_any_signed_shopify_body_is_answered_without_error(
    redis_db: str, topic: str, body: bytes
) -> None:
    # a header value is printable ASCII here: a topic that cannot be sent is no case
    sendable = "".join(c for c in topic if " " < c < "\x7f") or "orders/create"
    headers = shopify_headers(body, SHOPIFY_SECRET, sendable, "fuzz.myshopify.com")
    check(redis_db, "/webhooks/shopify", body, headers)


@given(stripe_events | bodies)
@example(b'{"id": "evt_\\ud800", "type": "customer.created"}')
def test_any_signed_stripe_body_is_answered_without_error(redis_db: str, body: bytes) -> None:
    check(redis_db, "/webhooks/stripe", body, stripe_headers(body, STRIPE_SECRET, int(time.time())))


def urlencoded(fields: dict[str, Any]) -> bytes:
    return "&".join(f"{k}={v}" for k, v in fields.items()).encode("utf-8", "replace")


@given(
    bodies | objects.map(urlencoded),
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
)
@example(b'{"id": "\\ud800"}', "application/json")  # a lone surrogate: once a 500
def test_any_signed_form_body_is_answered_without_error(
    redis_db: str, body: bytes, content_type: str
) -> None:
    headers = {**form_headers(body, FORM.auth), "Content-Type": content_type}
    check(redis_db, "/webhooks/forms/lead", body, headers)
