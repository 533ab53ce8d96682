"""`adapter.metrics`: bounded labels, counts kept in Redis, cumulative histograms."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from adapter import events, metrics
from adapter.webhook import WebhookDelivery
from tests.support.processes import free_port


@pytest.fixture
def bound(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url, decode_responses=True)
    metrics.bind(connection)
    yield connection
    metrics.bind(None)
    connection.close()


def stripe_event(n: int) -> WebhookDelivery:
    return WebhookDelivery(
        source="stripe",
        topic="invoice.paid",
        delivery_id=f"evt_{n}",
        received_at=datetime(2026, 11, 28, tzinfo=UTC) + timedelta(seconds=n),
        headers={},
        payload={"customer_email": "ada@example.com"},
    )


def flush(recorder: metrics.WebRecorder, url: str) -> None:
    async def main() -> None:
        client = AsyncRedis.from_url(url)
        try:
            await recorder.flush(client)
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("source", "topic", "forms", "label"),
    [
        ("shopify", "orders/create", (), "orders/create"),
        ("shopify", "customers/redact", (), "customers/redact"),
        ("shopify", "themes/publish", (), "other"),
        ("shopify", "", (), "other"),
        ("stripe", "invoice.paid", (), "invoice.paid"),
        ("stripe", "orders/create", (), "other"),
        ("form", "contact", ("contact",), "contact"),
        ("form", "made-up-form", ("contact",), "other"),
        ("unknown", "anything", (), "other"),
    ],
)
def test_topic_labels_come_from_fixed_sets(
    source: str, topic: str, forms: tuple[str, ...], label: str
) -> None:
    assert metrics.topic_label(source, topic, forms) == label


def test_crm_endpoints_are_labelled_without_their_query() -> None:
    assert metrics.crm_endpoint("get", "rest-api-proxy/deals?id=eq.1") == (
        "GET rest-api-proxy/deals"
    )
    assert metrics.crm_endpoint("POST", "/somewhere/else") == "POST other"
    assert metrics.status_label(None) == "error"
    assert metrics.status_label(999) == "other"


def test_web_recorder_counts_answers_in_redis(redis_url: str, text_redis: redis.Redis) -> None:
    recorder = metrics.WebRecorder(forms=["contact"])
    for _ in range(3):
        recorder.on_outcome("shopify", "orders/create", "queued")
    recorder.on_outcome("form", "contact", "spam")
    recorder.on_outcome("paypal", "x", "who-knows")
    flush(recorder, redis_url)
    assert metrics.read_counter(text_redis, metrics.DELIVERIES) == {
        ("shopify", "orders/create", "queued"): 3,
        ("form", "contact", "spam"): 1,
        ("other", "other", "other"): 1,
    }


def test_counts_survive_a_flush_redis_did_not_take(redis_url: str, text_redis: redis.Redis) -> None:
    recorder = metrics.WebRecorder()
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    for _ in range(2):
        recorder.on_outcome("stripe", "invoice.paid", "queued")
        flush(recorder, nowhere)
    recorder.on_outcome("stripe", "invoice.paid", "queued")
    flush(recorder, redis_url)
    assert metrics.read_counter(text_redis, metrics.DELIVERIES) == {
        ("stripe", "invoice.paid", "queued"): 3
    }


def test_histograms_read_back_cumulative(redis_url: str, text_redis: redis.Redis) -> None:
    recorder = metrics.WebRecorder()
    for seconds in (0.001, 0.005, 0.02, 7.0):
        recorder.acked("shopify", seconds)
    flush(recorder, redis_url)
    found = metrics.read_histogram(text_redis, metrics.ACK_SECONDS)[("shopify",)]
    buckets = dict(found.buckets)
    assert (buckets["0.005"], buckets["0.025"], buckets["5.0"], buckets["+Inf"]) == (2, 3, 3, 4)
    assert found.count == 4
    assert found.sum == pytest.approx(7.026)


def test_recent_deliveries_keep_the_newest_fifty_newest_first(
    redis_url: str, text_redis: redis.Redis
) -> None:
    recorder = metrics.WebRecorder()
    for n in range(60):
        recorder.on_delivery(stripe_event(n), "queued")
    flush(recorder, redis_url)
    recent = metrics.read_recent(text_redis)
    assert [r.id for r in recent] == [f"evt_{n}" for n in range(59, 9, -1)]
    assert "ada@example.com" not in str(text_redis.lrange(metrics.RECENT_KEY, 0, -1))


def test_verified_deliveries_reach_the_event_stream_in_order_in_one_command(
    redis_url: str, text_redis: redis.Redis
) -> None:
    recorder = metrics.WebRecorder()
    for n in range(30):
        shop = "store.myshopify.com" if n % 2 else None
        delivery = stripe_event(n).model_copy(
            update={"source": "shopify", "topic": "orders/create", "shop_domain": shop}
        )
        recorder.on_delivery(delivery, "duplicate" if n == 7 else "queued")
    stats = text_redis.info("commandstats")
    before = {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("xadd", "eval")}
    flush(recorder, redis_url)
    found = events.latest(text_redis, count=100)
    assert [e.get("id") for e in found] == [f"evt_{n}" for n in range(30)]
    assert {e.kind for e in found} == {"verified"}
    assert found[7].get("outcome") == "duplicate"
    assert (found[0].get("scope"), found[1].get("scope")) == ("-", "store.myshopify.com")
    assert "ada@example.com" not in str(text_redis.xrange(events.STREAM_KEY))
    stats = text_redis.info("commandstats")
    assert stats["cmdstat_xadd"]["calls"] - before["xadd"] == 30
    assert stats["cmdstat_eval"]["calls"] - before["eval"] == 1


def test_worker_side_recording_does_nothing_unbound(text_redis: redis.Redis) -> None:
    metrics.bind(None)
    metrics.crm_request("POST", "create-lead", 201, 0.3)
    assert metrics.read_counter(text_redis, metrics.CRM_REQUESTS) == {}


def test_worker_side_recording_writes_at_once(bound: redis.Redis) -> None:
    metrics.crm_request("POST", "create-lead", None, 10.0)
    arrived = [datetime.now(UTC) - timedelta(seconds=3)]
    metrics.batch_settled(
        "leads", delivered=1, follow_up=0, retried=2, dead_lettered=0, arrived=arrived
    )
    assert metrics.read_counter(bound, metrics.CRM_REQUESTS) == {("POST create-lead", "error"): 1}
    assert metrics.read_counter(bound, metrics.ROWS) == {
        ("leads", "delivered"): 1,
        ("leads", "retried"): 2,
    }
    latency = metrics.read_histogram(bound, metrics.DELIVERY_SECONDS)[("leads",)]
    assert dict(latency.buckets)["2.0"] == 0
    assert dict(latency.buckets)["5.0"] == 1


def test_a_tenants_crm_request_counts_for_the_tenant_and_in_the_totals(
    bound: redis.Redis,
) -> None:
    metrics.tenant_crm_request("agency-b", "POST", "create-deals-bulk", 200, 0.2)
    metrics.tenant_crm_request("agency-b", "POST", "create-deals-bulk", 401, 0.1)
    assert metrics.read_counter(bound, metrics.TENANT_CRM_REQUESTS) == {
        ("agency-b", "200"): 1,
        ("agency-b", "401"): 1,
    }
    totals = metrics.read_counter(bound, metrics.CRM_REQUESTS)
    assert sum(totals.values()) == 2


def test_worker_side_recording_shrugs_off_a_redis_outage() -> None:
    metrics.bind(redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0"))
    try:
        metrics.dead_lettered("command")
    finally:
        metrics.bind(None)
