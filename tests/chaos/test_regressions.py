"""Regressions the chaos suite found in the delivery side, each pinned on its own."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from adapter.settings import Settings
from adapter.signing import shopify_headers
from adapter.webhook import WebhookDelivery
from tests.chaos.stack import Stack
from tests.chaos.workload import SHOP, SHOPIFY_SECRET
from tests.support.processes import Process, start_redis
from tests.support.waiting import wait_until
from workers import intake
from workers.context import Context

pytestmark = pytest.mark.slow


def test_the_worker_redis_clients_wait_out_a_redis_restart(tmp_path: Path) -> None:
    # every worker quit on the first command that met the restart, and a delivery job
    # being finished stayed "started" for RQ's 240 s abandoned-job timeout
    server = start_redis(tmp_path, aof=True)
    assert server.port is not None
    ctx = Context(
        Settings(redis_url=f"redis://127.0.0.1:{server.port}/0", crm_api_key=SecretStr("cg_test"))
    )
    restarted: list[Process] = []
    # back in a second; the calls below are made while it is down
    timer = threading.Timer(
        1.0, lambda: restarted.append(start_redis(tmp_path, port=server.port, aof=True))
    )
    try:
        ctx.redis.set("kept", "yes")
        server.stop()
        timer.start()
        assert ctx.redis.get("kept") == "yes"
        assert ctx.rq_redis.ping()
    finally:
        if timer.is_alive():
            timer.join()
        ctx.close()
        for process in [server, *restarted]:
            process.stop()


def order(n: int) -> bytes:
    return (
        f'{{"id": {9000 + n}, "name": "#{9000 + n}", "email": "batch-{n}@example.com", '
        f'"total_price": "10.00", "currency": "EGP", "financial_status": "paid"}}'
    ).encode()


def test_deliveries_waiting_for_a_worker_reach_the_crm_in_full_batches(tmp_path: Path) -> None:
    # with the outbox queue first, a worker took each new flush before the next
    # delivery and lingered in it: ~5 deliveries mapped a second, one deal a request
    stack = Stack(tmp_path, faults={}).start(workers=0)
    try:
        with httpx.Client(base_url=stack.web_url) as http:
            for n in range(200):
                body = order(n)
                headers = shopify_headers(body, SHOPIFY_SECRET, "orders/create", SHOP)
                assert http.post("/webhooks/shopify", content=body, headers=headers).is_success
        stack.add_worker()
        wait_until(
            lambda: not any(stack.backlog()[k] for k in ("queued_jobs", "running_jobs", "outbox")),
            timeout=120,
            interval=0.2,
        )
        rows = stack.control("GET", "/_sandbox/stats")["bulk_rows"]["/create-deals-bulk"]
    finally:
        stack.stop()
    assert sum(rows) == 200
    assert len(rows) <= 3, rows


def test_the_same_body_sent_to_two_forms_is_queued_for_both(redis_url: str) -> None:
    # unsigned-id forms are keyed by the body's hash; the worker's once-only marker was
    # the bare delivery id, so the second form's lead was taken for a duplicate: lost
    ctx = Context(Settings(redis_url=redis_url, crm_api_key=SecretStr("cg_test")))
    payload = {"email": "same.person@example.com", "name": "Same Person"}
    try:
        outcomes = [
            intake.accept_delivery(
                ctx,
                WebhookDelivery(
                    source="form",
                    topic=form,
                    form_id=form,
                    delivery_id="sha256:" + "ab" * 32,
                    received_at=datetime.now(UTC),
                    payload=payload,
                ).model_dump(mode="json"),
            )
            for form in ("contact", "newsletter")
        ]
    finally:
        ctx.close()
    assert [len(o.queued) for o in outcomes] == [1, 1]
    assert not any(o.duplicate for o in outcomes)
