"""Every row of the answers table, against the real app under uvicorn and a real Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from adapter.inbox import SPAM_PREFIX
from tests.app.conftest import (
    FORM_HMAC_SECRETS,
    FORM_TOKENS,
    SHOP_SECRET,
    SHOPIFY_SECRETS,
    SPECIAL_SHOP,
    STRIPE_SECRETS,
    SW_SECRETS,
    Server,
)
from tests.app.signing import (
    form_hmac_headers,
    shopify_headers,
    standard_webhooks_headers,
    stripe_headers,
    unique_stripe_event,
)
from tests.support.ledger import stored_deliveries
from tests.support.shared import own_fixture

ORDER = own_fixture("shopify/orders_create.json").read_bytes()
CUSTOMER_NON_ASCII = own_fixture("shopify/customers_update.json").read_bytes()
STRIPE_CUSTOMER = own_fixture("stripe/customer.created.json").read_bytes()


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def jobs(store: redis.Redis) -> list[dict[str, Any]]:
    return stored_deliveries(store)


def only_delivery(store: redis.Redis) -> dict[str, Any]:
    found = jobs(store)
    assert len(found) == 1
    delivery: dict[str, Any] = found[0]
    return delivery


# 202 queued


def test_shopify_delivery_is_queued_with_metadata_but_no_hmac(
    http: httpx.Client, store: redis.Redis
) -> None:
    headers = shopify_headers(ORDER, webhook_id="wh-order-1")
    response = http.post("/webhooks/shopify", content=ORDER, headers=headers)
    assert (response.status_code, response.json()) == (202, {"status": "queued"})
    delivery = only_delivery(store)
    assert delivery["source"] == "shopify"
    assert delivery["topic"] == "orders/create"
    assert delivery["delivery_id"] == "wh-order-1"
    assert delivery["payload"] == json.loads(ORDER)
    assert delivery["headers"]["X-Shopify-Webhook-Id"] == "wh-order-1"
    assert "X-Shopify-Hmac-Sha256" not in delivery["headers"]


def test_non_ascii_customer_signed_over_raw_bytes_is_queued(
    http: httpx.Client, store: redis.Redis
) -> None:
    headers = shopify_headers(CUSTOMER_NON_ASCII, topic="customers/create")
    response = http.post("/webhooks/shopify", content=CUSTOMER_NON_ASCII, headers=headers)
    assert response.status_code == 202
    assert only_delivery(store)["payload"] == json.loads(CUSTOMER_NON_ASCII)


@pytest.mark.parametrize("secret", SHOPIFY_SECRETS)
def test_shopify_either_rotated_secret_is_accepted(http: httpx.Client, secret: str) -> None:
    headers = shopify_headers(ORDER, secret=secret)
    assert http.post("/webhooks/shopify", content=ORDER, headers=headers).status_code == 202


def test_shopify_shop_secret_is_accepted_for_its_shop_only(http: httpx.Client) -> None:
    own = shopify_headers(ORDER, secret=SHOP_SECRET, shop=SPECIAL_SHOP)
    other = shopify_headers(ORDER, secret=SHOP_SECRET, shop="another.myshopify.com")
    assert http.post("/webhooks/shopify", content=ORDER, headers=own).status_code == 202
    assert http.post("/webhooks/shopify", content=ORDER, headers=other).status_code == 401


@pytest.mark.parametrize(
    ("topic", "fixture"),
    [
        ("customers/redact", "customers_redact.json"),
        ("customers/data_request", "customers_data_request.json"),
        ("shop/redact", "shop_redact.json"),
    ],
)
def test_privacy_topics_are_queued_with_200(
    http: httpx.Client, store: redis.Redis, topic: str, fixture: str
) -> None:
    body = own_fixture(f"shopify/{fixture}").read_bytes()
    response = http.post("/webhooks/shopify", content=body, headers=shopify_headers(body, topic))
    assert (response.status_code, response.json()) == (200, {"status": "queued"})
    assert only_delivery(store)["topic"] == topic


@pytest.mark.parametrize("secret", STRIPE_SECRETS)
def test_stripe_event_is_queued_under_either_rotated_secret(
    http: httpx.Client, store: redis.Redis, secret: str
) -> None:
    body = unique_stripe_event(STRIPE_CUSTOMER)
    response = http.post("/webhooks/stripe", content=body, headers=stripe_headers(body, secret))
    assert (response.status_code, response.json()) == (202, {"status": "queued"})
    delivery = only_delivery(store)
    assert delivery["topic"] == "customer.created"
    assert delivery["delivery_id"] == json.loads(body)["id"]


@pytest.mark.parametrize("secret", FORM_HMAC_SECRETS)
def test_hmac_form_urlencoded_is_queued_as_fields(
    http: httpx.Client, store: redis.Redis, secret: str
) -> None:
    body = b"email=ada%40example.com&interest=crm&interest=api&website="
    headers = form_hmac_headers(body, "application/x-www-form-urlencoded", secret)
    response = http.post("/webhooks/forms/contact", content=body, headers=headers)
    assert (response.status_code, response.json()) == (202, {"status": "queued"})
    delivery = only_delivery(store)
    assert (delivery["source"], delivery["form_id"]) == ("form", "contact")
    assert delivery["payload"] == {
        "email": "ada@example.com",
        "interest": ["crm", "api"],
        "website": "",
    }


@pytest.mark.parametrize("token", FORM_TOKENS)
def test_token_form_is_queued_under_either_token(
    http: httpx.Client, store: redis.Redis, token: str
) -> None:
    body = b'{"email": "ada@example.com"}'
    headers = {"Content-Type": "application/json", "X-Form-Token": token}
    assert http.post("/webhooks/forms/nocode", content=body, headers=headers).status_code == 202
    assert only_delivery(store)["payload"] == {"email": "ada@example.com"}


@pytest.mark.parametrize("secret", SW_SECRETS)
def test_standard_webhooks_form_is_queued_under_either_secret(
    http: httpx.Client, store: redis.Redis, secret: str
) -> None:
    body = b'{"email": "ada@example.com"}'
    headers = standard_webhooks_headers(body, secret, msg_id="msg_abc")
    response = http.post("/webhooks/forms/signed", content=body, headers=headers)
    assert response.status_code == 202
    assert only_delivery(store)["delivery_id"] == "msg_abc"


# 200 duplicate


def test_shopify_redelivery_is_duplicate(http: httpx.Client, store: redis.Redis) -> None:
    headers = shopify_headers(ORDER, webhook_id="wh-same")
    first = http.post("/webhooks/shopify", content=ORDER, headers=headers)
    again = http.post("/webhooks/shopify", content=ORDER, headers=headers)
    assert first.status_code == 202
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert len(jobs(store)) == 1


def test_stripe_retry_is_duplicate_even_with_a_new_signature(
    http: httpx.Client, store: redis.Redis
) -> None:
    body = unique_stripe_event(STRIPE_CUSTOMER)
    first = http.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    retry_headers = stripe_headers(body, STRIPE_SECRETS[1], timestamp=int(time.time()) + 5)
    again = http.post("/webhooks/stripe", content=body, headers=retry_headers)
    assert first.status_code == 202
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert len(jobs(store)) == 1


def test_same_form_body_twice_is_duplicate(http: httpx.Client) -> None:
    body = b'{"email": "ada@example.com"}'
    headers = {"Content-Type": "application/json", "X-Form-Token": FORM_TOKENS[0]}
    assert http.post("/webhooks/forms/nocode", content=body, headers=headers).status_code == 202
    again = http.post("/webhooks/forms/nocode", content=body, headers=headers)
    assert again.json() == {"status": "duplicate"}


def test_fifty_concurrent_identical_posts_make_one_job(
    server: Server, redis_url: str, store: redis.Redis
) -> None:
    headers = shopify_headers(ORDER, webhook_id="wh-storm")

    async def storm() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            responses = await asyncio.gather(
                *(
                    client.post("/webhooks/shopify", content=ORDER, headers=headers)
                    for _ in range(50)
                )
            )
        return [response.status_code for response in responses]

    statuses = asyncio.run(storm())
    assert statuses.count(202) == 1
    assert statuses.count(200) == 49
    assert len(jobs(store)) == 1


# 200 ignored


def test_verified_unhandled_shopify_topic_is_ignored(
    http: httpx.Client, store: redis.Redis
) -> None:
    headers = shopify_headers(ORDER, topic="products/update")
    response = http.post("/webhooks/shopify", content=ORDER, headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ignored",
        "reason": "topic products/update is not handled",
    }
    assert jobs(store) == []


def test_verified_unhandled_stripe_event_is_ignored(http: httpx.Client, store: redis.Redis) -> None:
    body = json.dumps({"id": "evt_balance", "type": "balance.available"}).encode()
    response = http.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert jobs(store) == []


# 200 spam


def test_filled_honeypot_is_answered_spam_counted_and_dropped(
    http: httpx.Client, store: redis.Redis
) -> None:
    body = b"email=bot%40example.com&website=http%3A%2F%2Fspam.example"
    headers = form_hmac_headers(body, "application/x-www-form-urlencoded")
    response = http.post("/webhooks/forms/contact", content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"status": "spam"})
    assert store.get(SPAM_PREFIX + "contact") == b"1"
    assert jobs(store) == []


# 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Shopify-Hmac-Sha256": ""},
        {"X-Shopify-Hmac-Sha256": "%%%not-base64%%%"},
        {"X-Shopify-Hmac-Sha256": "Zm9vYmFy"},
        {"X-Shopify-Hmac-Sha256": "é" * 22},
    ],
    ids=["missing", "empty", "garbage", "wrong", "non-ascii"],
)
def test_shopify_bad_signature_is_401(
    http: httpx.Client, store: redis.Redis, headers: dict[str, str]
) -> None:
    all_headers = {**shopify_headers(ORDER), **headers}
    if not headers:
        del all_headers["X-Shopify-Hmac-Sha256"]
    # sent as UTF-8 bytes, so a non-ASCII value reaches the server as it is
    raw = {name.encode(): value.encode() for name, value in all_headers.items()}
    response = http.post("/webhooks/shopify", content=ORDER, headers=raw)
    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert jobs(store) == []


def test_shopify_secret_from_another_store_is_401(http: httpx.Client) -> None:
    headers = shopify_headers(ORDER, secret="shpss_someone_else")
    assert http.post("/webhooks/shopify", content=ORDER, headers=headers).status_code == 401


@pytest.mark.parametrize(
    "signature",
    [None, "", "garbage", "t=abc,v1=00", "t=1700000000", "v1=00", "t=1,t=2,v1=00", "t=1,v0=00"],
)
def test_stripe_bad_signature_header_is_401(http: httpx.Client, signature: str | None) -> None:
    body = unique_stripe_event(STRIPE_CUSTOMER)
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    response = http.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 401


def test_stripe_wrong_secret_is_401(http: httpx.Client) -> None:
    body = unique_stripe_event(STRIPE_CUSTOMER)
    headers = stripe_headers(body, "whsec_not_ours")
    assert http.post("/webhooks/stripe", content=body, headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        ("contact", {}),
        ("contact", {"X-Signature": "sha256=zz"}),
        ("contact", {"X-Signature": "md5=00"}),
        ("nocode", {"X-Form-Token": "guess"}),
        ("nocode", {}),
        ("signed", {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1"}),
        ("signed", {"webhook-id": "m", "webhook-timestamp": "x", "webhook-signature": "v1,@@"}),
        ("signed", {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,@@"}),
    ],
)
def test_form_bad_proof_is_401(http: httpx.Client, form: str, headers: dict[str, str]) -> None:
    body = b'{"email": "ada@example.com"}'
    response = http.post(
        f"/webhooks/forms/{form}",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == 401


def test_error_body_never_echoes_a_secret(http: httpx.Client) -> None:
    headers = shopify_headers(ORDER, secret="shpss_wrong")
    response = http.post("/webhooks/shopify", content=ORDER, headers=headers)
    for secret in (*SHOPIFY_SECRETS, headers["X-Shopify-Hmac-Sha256"]):
        assert secret not in response.text


def test_signature_is_checked_before_the_body_is_parsed(http: httpx.Client) -> None:
    headers = {**shopify_headers(b"{}"), "X-Shopify-Hmac-Sha256": "Zm9vYmFy"}
    response = http.post("/webhooks/shopify", content=b"\xff not json", headers=headers)
    assert response.status_code == 401


def test_form_signature_is_checked_before_the_content_type(http: httpx.Client) -> None:
    headers = {"Content-Type": "text/plain", "X-Signature": "sha256=" + "0" * 64}
    response = http.post("/webhooks/forms/contact", content=b"hello", headers=headers)
    assert response.status_code == 401


# 400


# well outside the 300 s window: the server's clock moves on while the request travels
@pytest.mark.parametrize("offset", [-330, 330])
def test_stripe_timestamp_outside_window_is_400(http: httpx.Client, offset: int) -> None:
    body = unique_stripe_event(STRIPE_CUSTOMER)
    headers = stripe_headers(body, timestamp=int(time.time()) + offset)
    response = http.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"tags": "\xff"}', b"[1, 2]", b'"text"', b""],
    ids=["invalid-json", "invalid-utf8", "array", "string", "empty"],
)
def test_signed_body_that_is_not_a_json_object_is_400(
    http: httpx.Client, store: redis.Redis, body: bytes
) -> None:
    response = http.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert response.status_code == 400
    assert jobs(store) == []


def test_signed_stripe_event_without_id_is_400(http: httpx.Client) -> None:
    body = b'{"type": "customer.created"}'
    assert (
        http.post("/webhooks/stripe", content=body, headers=stripe_headers(body)).status_code == 400
    )


def test_signed_form_with_invalid_json_is_400(http: httpx.Client) -> None:
    body = b"{nope"
    response = http.post("/webhooks/forms/contact", content=body, headers=form_hmac_headers(body))
    assert response.status_code == 400


# 404


@pytest.mark.parametrize("path", ["/webhooks/paypal", "/webhooks/forms/unknown", "/webhooks/a/b"])
def test_unknown_source_or_form_is_404(http: httpx.Client, path: str) -> None:
    response = http.post(path, content=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


# 413


def test_declared_length_over_limit_is_413_before_reading(http: httpx.Client) -> None:
    body = b"x" * (1024 * 1024 + 1)
    response = http.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert response.status_code == 413


def test_streamed_body_over_limit_is_413(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 32768  # 1.25 MiB in all, no Content-Length: chunked

    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create"}
    response = http.post("/webhooks/shopify", content=chunks(), headers=headers)
    assert response.status_code == 413


def test_body_at_the_limit_is_read(http: httpx.Client) -> None:
    body = b"x" * (1024 * 1024)
    response = http.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert response.status_code == 400  # read whole, verified, then refused as not JSON


# 415


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", ""])
def test_signed_form_with_other_content_type_is_415(http: httpx.Client, content_type: str) -> None:
    body = b"email=ada%40example.com"
    headers = form_hmac_headers(body, content_type)
    response = http.post("/webhooks/forms/contact", content=body, headers=headers)
    assert response.status_code == 415


# methods


def test_get_on_a_webhook_endpoint_is_405(http: httpx.Client) -> None:
    response = http.get("/webhooks/shopify")
    assert (response.status_code, response.json()) == (405, {"error": "method not allowed"})
