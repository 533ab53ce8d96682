"""`/metrics` of the served app under uvicorn: counters move, gauges read Redis."""

from __future__ import annotations

import subprocess
import sys

import httpx
import redis

from tests.ops_endpoints.scrape import Scrape
from tests.ops_endpoints.support import order_body, put_dead_letter, shopify_headers

DELIVERIES = "adapter_webhook_deliveries_total"
ORDER = {"source": "shopify", "topic": "orders/create"}


def test_a_queued_delivery_moves_the_queued_counter_and_the_queue_depth(
    http: httpx.Client,
) -> None:
    before = Scrape(http)
    body = order_body()
    answer = http.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert answer.status_code == 202
    after = Scrape(http)
    assert after.value(DELIVERIES, **ORDER, outcome="queued") == (
        before.value(DELIVERIES, **ORDER, outcome="queued") + 1
    )
    assert after.value("adapter_rq_queue_jobs", queue="deliveries") == 1


def test_a_resent_delivery_counts_as_a_duplicate(http: httpx.Client) -> None:
    before = Scrape(http)
    body = order_body()
    headers = shopify_headers(body, webhook_id="resent-once")
    assert http.post("/webhooks/shopify", content=body, headers=headers).status_code == 202
    assert http.post("/webhooks/shopify", content=body, headers=headers).status_code == 200
    after = Scrape(http)
    for name, labels in [
        (DELIVERIES, {**ORDER, "outcome": "duplicate"}),
        ("adapter_webhook_duplicates_total", {"source": "shopify"}),
    ]:
        assert after.value(name, **labels) == before.value(name, **labels) + 1, name


def test_an_unhandled_topic_counts_as_ignored_under_other(http: httpx.Client) -> None:
    before = Scrape(http)
    body = b'{"id": 7}'
    answer = http.post(
        "/webhooks/shopify", content=body, headers=shopify_headers(body, topic="themes/publish")
    )
    assert answer.json()["status"] == "ignored"
    after = Scrape(http)
    labels = {"source": "shopify", "topic": "other", "outcome": "ignored"}
    assert after.value(DELIVERIES, **labels) == before.value(DELIVERIES, **labels) + 1


def test_a_bad_signature_counts_as_a_signature_failure_without_its_topic(
    http: httpx.Client,
) -> None:
    before = Scrape(http)
    body = order_body()
    headers = {**shopify_headers(body), "X-Shopify-Hmac-Sha256": "bm90IHRoZSBzaWduYXR1cmU="}
    headers["X-Shopify-Topic"] = "attacker/chosen-label"
    assert http.post("/webhooks/shopify", content=body, headers=headers).status_code == 401
    after = Scrape(http)
    failures = "adapter_webhook_signature_failures_total"
    assert after.value(failures, source="shopify") == before.value(failures, source="shopify") + 1
    labels = {"source": "shopify", "topic": "other", "outcome": "unauthorized"}
    assert after.value(DELIVERIES, **labels) == before.value(DELIVERIES, **labels) + 1
    assert "attacker" not in after.text


def test_acks_are_timed_by_source(http: httpx.Client) -> None:
    before = Scrape(http)
    body = order_body()
    http.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    after = Scrape(http)
    count = "adapter_webhook_ack_seconds_count"
    assert after.value(count, source="shopify") == before.value(count, source="shopify") + 1
    assert after.value("adapter_webhook_ack_seconds_bucket", source="shopify", le="+Inf") >= 1


def test_dead_letters_and_outbox_are_read_at_scrape_time(
    http: httpx.Client, text_redis: redis.Redis
) -> None:
    put_dead_letter(text_redis)
    scrape = Scrape(http)
    assert scrape.value("adapter_dead_letters_current") == 1
    assert scrape.value("adapter_outbox_entries", kind="deals") == 0
    assert scrape.value("adapter_workers_alive") == 0
    assert scrape.value("adapter_crm_rate_limit_per_minute") == 120


def test_a_worker_process_recording_shows_in_the_web_processs_metrics(
    http: httpx.Client, redis_url: str
) -> None:
    before = Scrape(http)
    code = (
        "import sys, redis\n"
        "from adapter import metrics\n"
        "metrics.bind(redis.Redis.from_url(sys.argv[1]))\n"
        "metrics.crm_request('POST', 'create-deals-bulk', 200, 0.2)\n"
        "metrics.crm_request('POST', 'create-deals-bulk', 503, 0.1)\n"
        "metrics.batch_settled('deals', delivered=3, follow_up=0, retried=0, dead_lettered=1)\n"
        "metrics.rate_limit_wait('window')\n"
        "metrics.dead_lettered('command')\n"
    )
    subprocess.run([sys.executable, "-c", code, redis_url], check=True, timeout=60)
    after = Scrape(http)
    expected = [
        ("adapter_crm_requests_total", {"endpoint": "POST create-deals-bulk", "status": "200"}, 1),
        ("adapter_crm_requests_total", {"endpoint": "POST create-deals-bulk", "status": "503"}, 1),
        ("adapter_crm_request_seconds_count", {"endpoint": "POST create-deals-bulk"}, 2),
        ("adapter_outbox_rows_total", {"kind": "deals", "result": "delivered"}, 3),
        ("adapter_outbox_rows_total", {"kind": "deals", "result": "dead_lettered"}, 1),
        ("adapter_crm_rate_limit_waits_total", {"reason": "window"}, 1),
        ("adapter_dead_letters_total", {"kind": "command"}, 1),
    ]
    for name, labels, delta in expected:
        assert after.value(name, **labels) == before.value(name, **labels) + delta, (name, labels)
