from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from adapter.inbox import (
    FAILURE_TTL_SECONDS,
    JOB_FUNCTION,
    QUEUE_NAME,
    SPAM_PREFIX,
    Inbox,
    connect,
    dedupe_key,
    job_id_for,
    mark_key_for,
)
from adapter.sources.errors import QueueUnavailable
from adapter.webhook import WebhookDelivery
from tests.support.processes import free_port

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


def with_inbox(url: str, use: Callable[[Inbox], Awaitable[T]]) -> T:
    async def main() -> T:
        inbox = Inbox(connect(url), dedupe_ttl_seconds=TTL)
        try:
            return await use(inbox)
        finally:
            await inbox.aclose()

    return asyncio.run(main())


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def queue(client: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=client, serializer=JSONSerializer)


def test_new_delivery_becomes_one_rq_job_with_json_payload(
    redis_url: str, client: redis.Redis
) -> None:
    item = delivery()
    assert with_inbox(redis_url, lambda inbox: inbox.put(item)) == "queued"
    job_ids = queue(client).job_ids
    assert job_ids == [job_id_for(dedupe_key(item))]
    job = Job.fetch(job_ids[0], connection=client, serializer=JSONSerializer)
    assert job.func_name == JOB_FUNCTION
    assert list(job.args) == [item.model_dump(mode="json")]
    assert job.get_status() == JobStatus.QUEUED
    assert job.failure_ttl == FAILURE_TTL_SECONDS
    assert job.result_ttl is not None
    assert job.result_ttl < FAILURE_TTL_SECONDS


def test_job_is_stored_as_json_never_pickle(redis_url: str, client: redis.Redis) -> None:
    item = delivery()
    with_inbox(redis_url, lambda inbox: inbox.put(item))
    job = Job.fetch(queue(client).job_ids[0], connection=client)
    assert job.data.startswith(b'["workers.jobs.process_delivery"')


def test_job_id_uses_only_rq_safe_characters() -> None:
    key = dedupe_key(delivery("wh/ä:1 2"))
    assert re.fullmatch(r"dlv-[0-9a-f]{40}", job_id_for(key))


def test_same_delivery_again_is_duplicate(redis_url: str, client: redis.Redis) -> None:
    async def twice(inbox: Inbox) -> list[str]:
        return [await inbox.put(delivery()), await inbox.put(delivery())]

    assert with_inbox(redis_url, twice) == ["queued", "duplicate"]
    assert len(queue(client).job_ids) == 1


def test_mark_lives_for_the_dedupe_ttl(redis_url: str, client: redis.Redis) -> None:
    with_inbox(redis_url, lambda inbox: inbox.put(delivery()))
    ttl = client.ttl(mark_key_for(dedupe_key(delivery())))
    assert TTL - 60 < ttl <= TTL


def test_same_delivery_id_from_two_shops_is_two_jobs(redis_url: str, client: redis.Redis) -> None:
    async def both(inbox: Inbox) -> list[str]:
        return [await inbox.put(delivery(shop="a.myshopify.com")), await inbox.put(delivery())]

    assert with_inbox(redis_url, both) == ["queued", "queued"]
    assert len(queue(client).job_ids) == 2


def test_two_copies_in_one_group_queue_once(redis_url: str, client: redis.Redis) -> None:
    async def together(inbox: Inbox) -> list[str]:
        return list(await asyncio.gather(inbox.put(delivery()), inbox.put(delivery())))

    assert sorted(with_inbox(redis_url, together)) == ["duplicate", "queued"]
    assert len(queue(client).job_ids) == 1


def test_fifty_concurrent_copies_make_exactly_one_job(redis_url: str, client: redis.Redis) -> None:
    async def fifty(inbox: Inbox) -> list[str]:
        return list(await asyncio.gather(*(inbox.put(delivery()) for _ in range(50))))

    outcomes = with_inbox(redis_url, fifty)
    assert outcomes.count("queued") == 1
    assert outcomes.count("duplicate") == 49
    assert len(queue(client).job_ids) == 1


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
    assert len(queue(client).job_ids) == 100


def test_failed_enqueue_leaves_no_mark_and_the_retry_is_queued(
    redis_url: str, client: redis.Redis
) -> None:
    # a queue key of the wrong type makes RPUSH fail inside the write
    client.set(f"rq:queue:{QUEUE_NAME}", "not a list")
    with pytest.raises(QueueUnavailable):
        with_inbox(redis_url, lambda inbox: inbox.put(delivery()))
    assert not client.exists(mark_key_for(dedupe_key(delivery())))

    client.delete(f"rq:queue:{QUEUE_NAME}")
    assert with_inbox(redis_url, lambda inbox: inbox.put(delivery())) == "queued"
    assert len(queue(client).job_ids) == 1


def test_failure_of_one_delivery_does_not_fail_its_group(
    redis_url: str, client: redis.Redis
) -> None:
    bad = delivery("wh-bad")
    client.set(f"rq:job:{job_id_for(dedupe_key(bad))}", "not a hash")

    async def together(inbox: Inbox) -> list[Any]:
        return list(
            await asyncio.gather(inbox.put(delivery()), inbox.put(bad), return_exceptions=True)
        )

    good_outcome, bad_outcome = with_inbox(redis_url, together)
    assert good_outcome == "queued"
    assert isinstance(bad_outcome, QueueUnavailable)
    assert not client.exists(mark_key_for(dedupe_key(bad)))


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
