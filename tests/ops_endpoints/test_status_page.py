"""`/status`: behind ADMIN_TOKEN, server-rendered, replays dead letters CSRF-safely."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import redis

from adapter.ops import create_served_app
from tests.ops_endpoints.support import (
    ADMIN_TOKEN,
    order_body,
    put_dead_letter,
    run_app,
    settings,
    shopify_headers,
)
from workers.deadletters import DeadLetters, delivery_letter
from workers.outbox import Outbox

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def app(redis_url: str, **extra: Any) -> Any:
    return create_served_app(settings(redis_url, **extra))


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def login(client: httpx.AsyncClient) -> httpx.Response:
    """Log in with ?token=, then load the page with the session cookie."""
    answer = await client.get("/status", params={"token": ADMIN_TOKEN})
    assert answer.status_code == 303
    return await client.get("/status")


def test_the_page_is_off_until_an_admin_token_is_set(redis_url: str) -> None:
    async def use(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/status", headers=BEARER)

    response = run_app(app(redis_url, admin_token=None), use)
    assert response.status_code == 403
    assert "ADMIN_TOKEN" in response.text


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({}, {}),
        ({}, {"Authorization": "Bearer not-the-token"}),
        ({}, {"Authorization": f"Basic {ADMIN_TOKEN}"}),
        ({"token": "not-the-token"}, {}),
        ({}, {"Cookie": "adapter_admin=1795890000.abcd.0123456789"}),
    ],
    ids=["nothing", "wrong-bearer", "not-bearer", "wrong-query-token", "forged-cookie"],
)
def test_the_page_refuses_requests_without_the_token(
    redis_url: str, params: dict[str, str], headers: dict[str, str]
) -> None:
    async def use(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/status", params=params, headers=headers)

    response = run_app(app(redis_url), use)
    assert response.status_code == 401
    assert "crm-adapter" in response.headers["www-authenticate"]


def test_a_bearer_token_shows_counts_queues_and_dead_letters(
    redis_url: str, text_redis: redis.Redis
) -> None:
    put_dead_letter(text_redis, "dead-42")

    async def use(client: httpx.AsyncClient) -> httpx.Response:
        body = order_body()
        headers = shopify_headers(body, webhook_id="order-webhook-1")
        await client.post("/webhooks/shopify", content=body, headers=headers)
        await client.post("/webhooks/shopify", content=body, headers=headers)
        return await client.get("/status", headers=BEARER)

    response = run_app(app(redis_url), use)
    assert response.status_code == 200
    page = response.text
    row = re.search(r'<tr><td data-label="source">shopify</td>(.*?)</tr>', page)
    assert row is not None
    assert re.findall(r"<td class=n[^>]*>(\d+)</td>", row.group(1)) == ["1", "1", "0", "0", "0"]
    assert "order-webhook-1" in page
    assert "dlv-dead-42" in page
    assert "Dead letters (1)" in page
    # the order waits in the delivery ledger (no worker runs)
    assert '<td class=n data-label="waiting">1</td>' in page


def test_the_page_shows_no_personal_data(redis_url: str, text_redis: redis.Redis) -> None:
    letter = delivery_letter(
        {"delivery_id": "d-pii", "source": "form", "topic": "contact"},
        "CRM refused mahmoud@example.com / +201017177777",
    )
    DeadLetters(text_redis).put(letter)

    async def use(client: httpx.AsyncClient) -> httpx.Response:
        body = order_body()
        await client.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
        return await client.get("/status", headers=BEARER)

    page = run_app(app(redis_url), use).text
    assert "d-pii" in page
    for personal in ("mahmoud@example.com", "+201017177777", "+966501234567", "Mahmoud"):
        assert personal not in page


def test_the_page_is_not_cached_framed_or_scripted(redis_url: str) -> None:
    async def use(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/status", headers=BEARER)

    response = run_app(app(redis_url), use)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "<script" not in response.text


def test_token_login_sets_an_httponly_session_cookie_that_is_not_the_token(
    redis_url: str,
) -> None:
    async def use(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        answer = await client.get("/status", params={"token": ADMIN_TOKEN})
        return answer, await client.get("/status")

    login_answer, page = run_app(app(redis_url), use)
    assert login_answer.status_code == 303
    assert login_answer.headers["location"] == "/status"
    cookie = login_answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert ADMIN_TOKEN not in cookie
    assert page.status_code == 200
    assert "Dead letters" in page.text


def test_a_cookie_alone_cannot_replay(redis_url: str, text_redis: redis.Redis) -> None:
    letter_id = put_dead_letter(text_redis)

    async def use(client: httpx.AsyncClient) -> list[httpx.Response]:
        await login(client)
        return [
            await client.post("/status/replay", data={"id": letter_id}),
            await client.post("/status/replay", data={"id": letter_id, "csrf": "0" * 64}),
        ]

    for response in run_app(app(redis_url), use):
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert DeadLetters(text_redis).get(letter_id) is not None


def test_the_replay_button_replays_through_the_workers(
    redis_url: str, text_redis: redis.Redis
) -> None:
    letter_id = put_dead_letter(text_redis)

    async def use(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        page = await login(client)
        form = {"id": letter_id, "csrf": csrf_of(page.text)}
        answer = await client.post("/status/replay", data=form)
        return answer, await client.get("/status")

    answer, page = run_app(app(redis_url), use)
    assert answer.status_code == 303
    assert DeadLetters(text_redis).get(letter_id) is None
    assert Outbox(text_redis).size() > 0
    assert f"{letter_id}: replayed" in page.text
    assert "Dead letters (0)" in page.text


def test_the_csrf_token_may_come_in_a_header(redis_url: str, text_redis: redis.Redis) -> None:
    letter_id = put_dead_letter(text_redis)

    async def use(client: httpx.AsyncClient) -> httpx.Response:
        page = await login(client)
        headers = {"X-CSRF-Token": csrf_of(page.text)}
        return await client.post("/status/replay", data={"id": letter_id}, headers=headers)

    assert run_app(app(redis_url), use).status_code == 303
    assert DeadLetters(text_redis).get(letter_id) is None


def test_a_bearer_replay_answers_json(redis_url: str, text_redis: redis.Redis) -> None:
    letter_id = put_dead_letter(text_redis)

    async def use(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/status/replay", data={"id": letter_id}, headers=BEARER),
            await client.post("/status/replay", data={"id": "no-such"}, headers=BEARER),
        ]

    replayed, missing = run_app(app(redis_url), use)
    assert replayed.status_code == 200
    assert replayed.json()["ok"] is True
    assert missing.status_code == 409
    assert missing.json() == {"id": "no-such", "ok": False, "detail": "no such dead letter"}


def test_replay_needs_the_token(redis_url: str, text_redis: redis.Redis) -> None:
    letter_id = put_dead_letter(text_redis)

    async def use(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/status/replay", data={"id": letter_id})

    assert run_app(app(redis_url), use).status_code == 401
    assert DeadLetters(text_redis).get(letter_id) is not None
