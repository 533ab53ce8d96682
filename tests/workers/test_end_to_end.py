"""End to end: real `adapter worker` processes, real Redis, the CRM sandbox over HTTP.

`FAULT_SEED=n` replays the fault test with another sequence of injected faults.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from adapter.crm.commands import AnyCommand, UpsertDeal
from adapter.crm.models import Contact
from adapter.webhook import WebhookDelivery
from tests.support.processes import adapter_command
from tests.support.waiting import wait_until
from tests.workers.commands import T0, create_lead, order_id, upsert_contact, upsert_deal
from tests.workers.live import Crm, Sandbox, Workers, producer, statuses, worker_env
from workers import intake
from workers.context import Context

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    server = Sandbox(tmp_path_factory.mktemp("sandbox"), rate_limit=120).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    """The sandbox with no data, statistics or faults from an earlier test."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def crm(sandbox: Sandbox) -> Iterator[Crm]:
    org = sandbox.new_org()  # a key of its own: a rate-limit window of its own
    view = Crm(sandbox, org["api_key"])
    yield view
    view.close()


@pytest.fixture
def env(redis_url: str, crm: Crm) -> dict[str, str]:
    return worker_env(redis_url, crm)


@pytest.fixture
def workers(tmp_path: Path, env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(tmp_path, env)
    yield pool
    pool.stop()


@pytest.fixture
def outbox(env: dict[str, str]) -> Iterator[Context]:
    with producer(env) as ctx:
        yield ctx


def queue(ctx: Context, commands: list[AnyCommand]) -> None:
    intake.queue_commands(ctx, commands)


def delivered(ctx: Context) -> bool:
    return ctx.outbox.size() == 0


def assert_deals_match(crm: Crm, commands: list[UpsertDeal]) -> None:
    """Exactly one deal per external id, in the state of its newest command."""
    newest: dict[str, UpsertDeal] = {}
    for command in sorted(commands, key=lambda c: c.source_updated_at or T0):
        newest[command.external_id] = command
    found = {k: v for k, v in crm.deals_by_external_id().items() if k.startswith("shopify:")}
    assert set(found) == set(newest)
    for external_id, command in newest.items():
        [deal] = found[external_id]
        assert (deal.title, deal.stage, deal.value, deal.currency) == (
            command.deal.title,
            command.deal.stage,
            command.deal.value,
            command.deal.currency,
        ), external_id


# --- batching --------------------------------------------------------------------


def test_a_burst_of_1000_orders_fills_every_request(
    crm: Crm, sandbox: Sandbox, workers: Workers, outbox: Context
) -> None:
    workers.start()
    workers.start()
    commands = [upsert_deal(n) for n in range(1000)]
    queue(outbox, list(commands))
    wait_until(lambda: delivered(outbox), timeout=60, message="the outbox to drain")

    stats = sandbox.stats()
    rows = stats["bulk_rows"]["/create-deals-bulk"]
    assert sum(rows) == 1000
    assert 1000 / len(rows) >= 95, rows
    assert stats["rate_limited"] == 0
    assert statuses(stats, "429") == 0
    assert_deals_match(crm, commands)


# --- faults -----------------------------------------------------------------------


def test_faults_end_in_the_expected_state_without_duplicates(
    crm: Crm, sandbox: Sandbox, tmp_path: Path, env: dict[str, str], outbox: Context
) -> None:
    pool = Workers(tmp_path, {**env, "CRM_TIMEOUT_SECONDS": "1"})
    sandbox.faults(
        seed=int(os.environ.get("FAULT_SEED", "7")),
        error_before=0.1,
        error_after=0.1,
        rate_limit=0.05,
        hang=0.05,
        hang_seconds=2,
    )
    try:
        pool.start()
        pool.start()
        deals = [upsert_deal(n) for n in range(150)]
        updates = [upsert_deal(n, stage="won", value="200", version=1) for n in range(0, 150, 10)]
        leads = [create_lead(n) for n in range(10)]
        contacts = [upsert_contact(n) for n in range(20)]
        queue(outbox, [*deals, *leads, *contacts])
        queue(outbox, list(updates))
        wait_until(lambda: delivered(outbox), timeout=90, message="the outbox to drain")
    finally:
        pool.stop()
    sandbox.faults()
    stats = sandbox.stats()
    assert sum(stats["faults"].values()) > 0  # the faults did happen

    assert_deals_match(crm, [*deals, *updates])
    by_external_id = crm.deals_by_external_id()
    for lead in leads:
        assert len(by_external_id[lead.external_id]) == 1
    emails = [email for c in crm.contacts() for email in c.emails or []]
    assert len(emails) == len(set(emails)), "a contact was created twice"
    assert outbox.deadletters.count() == 0


# --- a killed worker ----------------------------------------------------------------


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    crm: Crm, sandbox: Sandbox, tmp_path: Path, env: dict[str, str], outbox: Context
) -> None:
    pool = Workers(tmp_path, {**env, "CRM_TIMEOUT_SECONDS": "1", "ADAPTER_LEASE_SECONDS": "3"})
    # every request commits, then its answer is held: the worker dies waiting for it
    sandbox.faults(hang=1.0, hang_seconds=5)
    try:
        first = pool.start()
        commands = [upsert_deal(n) for n in range(300)]
        queue(outbox, list(commands))
        wait_until(
            lambda: sandbox.stats()["faults"]["hang"] >= 1,
            timeout=20,
            message="a batch committed and its answer held",
        )
        first.kill()
        sandbox.faults()
        pool.start()
        wait_until(lambda: delivered(outbox), timeout=60, message="the outbox to drain")
    finally:
        pool.stop()
    stats = sandbox.stats()
    # the killed batch went out again, and found its deals instead of duplicating them
    assert sum(stats["bulk_rows"]["/create-deals-bulk"]) == 400
    assert "PATCH /rest-api-proxy/deals" not in stats["requests"]
    assert_deals_match(crm, commands)


# --- order and dead letters -----------------------------------------------------------


def test_out_of_order_updates_end_in_the_newest_state(
    crm: Crm, workers: Workers, outbox: Context
) -> None:
    workers.start()
    newest = upsert_deal(1, stage="won", value="300", version=3)
    queue(outbox, [newest, upsert_deal(1, stage="new", version=1)])
    wait_until(lambda: delivered(outbox), timeout=30)
    queue(outbox, [upsert_deal(1, stage="qualified", version=2)])
    wait_until(lambda: delivered(outbox), timeout=30)
    assert_deals_match(crm, [newest])


def test_a_permanent_row_error_is_dead_lettered_and_delivers_after_fix_and_replay(
    crm: Crm, workers: Workers, outbox: Context, env: dict[str, str]
) -> None:
    workers.start()
    orphan = upsert_deal(2, email="nobody@example.com")
    orphan = orphan.model_copy(
        update={"deal": orphan.deal.model_copy(update={"create_contact_if_missing": False})}
    )
    queue(outbox, [upsert_deal(1), orphan])
    wait_until(lambda: outbox.deadletters.count() == 1 and delivered(outbox), timeout=30)
    [letter] = outbox.deadletters.listing()
    assert letter.external_id == order_id(2)
    assert letter.status is None or 400 <= letter.status < 500

    # the fix: the contact now exists in the CRM
    crm.client.create_contact(Contact(emails=["nobody@example.com"], first_name="No"))
    replay = subprocess.run(
        adapter_command("deadletter", "replay", letter.id),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    wait_until(lambda: delivered(outbox), timeout=30)
    assert outbox.deadletters.count() == 0
    assert len(crm.deals_by_external_id()[order_id(2)]) == 1


# --- the whole path ---------------------------------------------------------------------


def test_shopify_deliveries_reach_the_crm_through_process_delivery(
    crm: Crm, workers: Workers, outbox: Context, fixtures_dir: Path
) -> None:
    workers.start()
    sample = fixtures_dir / "shopify" / "orders_create.json"
    order: dict[str, Any] = json.loads(sample.read_text())
    deliveries = Queue("deliveries", connection=outbox.rq_redis, serializer=JSONSerializer)
    for n in range(3):
        body = {**order, "id": 1000 + n, "email": f"shopper{n}@example.com"}
        delivery = WebhookDelivery(
            source="shopify",
            topic="orders/create",
            delivery_id=f"wh-{n}",
            received_at=datetime.now(UTC),
            shop_domain="bench.myshopify.com",
            payload=body,
        )
        deliveries.enqueue("workers.jobs.process_delivery", delivery.model_dump(mode="json"))
    external_ids = [f"shopify:bench.myshopify.com:order:{1000 + n}" for n in range(3)]
    wait_until(
        lambda: all(outbox.idmap.get(x).deal_id for x in external_ids) and delivered(outbox),
        timeout=30,
    )
    deals = crm.deals_by_external_id()
    assert all(len(deals[x]) == 1 for x in external_ids)
    assert outbox.deadletters.count() == 0
