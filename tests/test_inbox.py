from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from adapter.inbox import SPAM_PREFIX, Bell, Inbox, connect
from adapter.ledger import Ledger, dedupe_key, digest_of
from adapter.ledger.bell import BELL_QUEUE, TAKE_FUNCTION
from adapter.ledger.keys import BELL_KEY, READY_KEY, mark_key
from adapter.sources.errors import QueueUnavailable
from adapter.webhook import WebhookDelivery
from tests.support.processes import free_port
from tests.support.waiting import wait_until

TTL = 7 * 24 * 3600
T = TypeVar("T")


def delivery(delivery_id: str = "wh-1", shop: str = "store.myshopify.com") -> WebhookDelivery:
    return WebhookDelivery(
        source="shopify",
        topic="orders/create",
        delivery_id=delivery_id,
        received_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        shop_domain=shop,
        headers={"X-Shopify-Topic": "orders/create"},
        payload={"id": 820982911946154508, "email": "ada@example.com", "tags": "Überraschung"},
    )


def with_inbox(url: str, use: Callable[[Inbox], Awaitable[T]], bell: bool = False) -> T:
    async def main() -> T:
        inbox = Inbox(connect(url), dedupe_ttl_seconds=TTL, bell=Bell(url) if bell else None)
        try:
            return await use(inbox)
        finally:
            await inbox.aclose()

    return asyncio.run(main())


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def stored(client: redis.Redis) -> int:
    return Ledger(client).count()


def digest(item: WebhookDelivery) -> str:
    return digest_of(dedupe_key(item))


def test_a_delivery_is_stored_in_the_ledger_ready_to_take(
    redis_url: str, client: redis.Redis
) -> None:
    item = delivery()
    assert with_inbox(redis_url, lambda inbox: inbox.put(item)) == "queued"
    record = Ledger(client).get(digest(item))
    assert record is not None
    assert (record.source, record.topic, record.scope) == (
        "shopify",
        "orders/create",
        item.shop_domain,
    )
    assert record.state == "received"
    assert record.received_at == item.received_at
    assert record.delivery() == item
    assert client.zscore(READY_KEY, digest(item)) is not None


def test_a_verified_body_is_stored_as_it_came(redis_url: str, client: redis.Redis) -> None:
    body = b'{"id": 1,  "email":"ada@example.com", "total": 10.50}'
    item = delivery().model_copy(update={"payload": json.loads(body)})
    with_inbox(redis_url, lambda inbox: inbox.put(item, payload_json=body))
    record = Ledger(client).get(digest(item))
    assert record is not None
    assert record.delivery() == item
    assert record.size == len(body)


def test_same_delivery_again_is_duplicate(redis_url: str, client: redis.Redis) -> None:
    async def twice(inbox: Inbox) -> list[str]:
        return [await inbox.put(delivery()), await inbox.put(delivery())]

    assert with_inbox(redis_url, twice) == ["queued", "duplicate"]
    assert stored(client) == 1


def test_mark_lives_for_the_dedupe_ttl(redis_url: str, client: redis.Redis) -> None:
    with_inbox(redis_url, lambda inbox: inbox.put(delivery()))
    ttl = client.ttl(mark_key(digest(delivery())))
    assert TTL - 60 < ttl <= TTL


def test_same_delivery_id_from_two_shops_is_two_records(
    redis_url: str, client: redis.Redis
) -> None:
    async def both(inbox: Inbox) -> list[str]:
        return [await inbox.put(delivery(shop="a.myshopify.com")), await inbox.put(delivery())]

    assert with_inbox(redis_url, both) == ["queued", "queued"]
    assert stored(client) == 2


def test_fifty_concurrent_copies_make_exactly_one_record(
    redis_url: str, client: redis.Redis
) -> None:
    async def fifty(inbox: Inbox) -> list[str]:
        return list(await asyncio.gather(*(inbox.put(delivery()) for _ in range(50))))

    outcomes = with_inbox(redis_url, fifty)
    assert outcomes.count("queued") == 1
    assert outcomes.count("duplicate") == 49
    assert stored(client) == 1


def evalsha_calls(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def test_concurrent_deliveries_are_written_in_a_few_round_trips(
    redis_url: str, client: redis.Redis
) -> None:
    async def hundred(inbox: Inbox) -> list[str]:
        return list(await asyncio.gather(*(inbox.put(delivery(f"wh-{i}")) for i in range(100))))

    before = evalsha_calls(client)
    assert set(with_inbox(redis_url, hundred)) == {"queued"}
    assert evalsha_calls(client) - before <= 3
    assert stored(client) == 100


def test_failed_store_leaves_no_mark_and_the_retry_is_stored(
    redis_url: str, client: redis.Redis
) -> None:
    # a `ready` key of the wrong type makes the store fail inside the script
    client.set(READY_KEY, "not a sorted set")
    with pytest.raises(QueueUnavailable):
        with_inbox(redis_url, lambda inbox: inbox.put(delivery()))
    assert not client.exists(mark_key(digest(delivery())))
    assert stored(client) == 0

    client.delete(READY_KEY)
    assert with_inbox(redis_url, lambda inbox: inbox.put(delivery())) == "queued"
    assert stored(client) == 1


def test_failure_of_one_delivery_does_not_fail_its_group(
    redis_url: str, client: redis.Redis
) -> None:
    bad = delivery("wh-bad")
    client.set(f"ledger:d:{digest(bad)}", "not a hash")

    async def together(inbox: Inbox) -> list[Any]:
        return list(
            await asyncio.gather(inbox.put(delivery()), inbox.put(bad), return_exceptions=True)
        )

    good_outcome, bad_outcome = with_inbox(redis_url, together)
    assert good_outcome == "queued"
    assert isinstance(bad_outcome, QueueUnavailable)
    assert not client.exists(mark_key(digest(bad)))


def test_a_full_redis_is_queue_unavailable_and_leaves_nothing(
    redis_url: str, client: redis.Redis
) -> None:
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)
    try:
        with pytest.raises(QueueUnavailable):
            with_inbox(redis_url, lambda inbox: inbox.put(delivery()))
    finally:
        client.config_set("maxmemory", 0)
    assert not client.exists(mark_key(digest(delivery())))
    assert stored(client) == 0
    assert with_inbox(redis_url, lambda inbox: inbox.put(delivery())) == "queued"


def test_the_first_delivery_rings_the_bell_once(redis_url: str, client: redis.Redis) -> None:
    async def three(inbox: Inbox) -> list[str]:
        return [await inbox.put(delivery(f"wh-{i}")) for i in range(3)]

    with_inbox(redis_url, three, bell=True)
    queue = Queue(BELL_QUEUE, connection=client, serializer=JSONSerializer)
    jobs = queue.get_jobs()
    assert [job.func_name for job in jobs] == [TAKE_FUNCTION]
    assert client.exists(BELL_KEY)


def test_the_bell_rings_again_once_a_take_job_answered(redis_url: str, client: redis.Redis) -> None:
    with_inbox(redis_url, lambda inbox: inbox.put(delivery("a")), bell=True)
    client.delete(BELL_KEY)  # what a starting take job does
    with_inbox(redis_url, lambda inbox: inbox.put(delivery("b")), bell=True)
    queue = Queue(BELL_QUEUE, connection=client, serializer=JSONSerializer)
    wait_until(lambda: queue.count == 2, timeout=5, message="two take jobs")


def test_unreachable_redis_is_queue_unavailable() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(QueueUnavailable):
        with_inbox(url, lambda inbox: inbox.put(delivery()))


def test_spam_is_counted_per_form(redis_url: str, client: redis.Redis) -> None:
    async def twice(inbox: Inbox) -> None:
        await inbox.count_spam("contact")
        await inbox.count_spam("contact")

    with_inbox(redis_url, twice)
    assert client.get(SPAM_PREFIX + "contact") == b"2"


def test_ping_reports_whether_redis_answers(redis_url: str) -> None:
    assert with_inbox(redis_url, lambda inbox: inbox.ping()) is True
    assert with_inbox(f"redis://127.0.0.1:{free_port()}/0", lambda inbox: inbox.ping()) is False


def test_the_asyncio_client_gets_an_asyncio_retry(redis_url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert with_inbox(redis_url, lambda inbox: inbox.ping()) is True
