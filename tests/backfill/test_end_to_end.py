"""5,000 exported orders into the CRM: real Redis, `adapter sandbox`, `adapter worker`
and `adapter backfill` processes; the backfill is killed mid-way and run again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.backfill.export import write_export
from tests.support.processes import Process, adapter_command
from tests.support.waiting import wait_until
from tests.workers.live import Crm, Sandbox, Workers, worker_env
from workers.backfill import checkpoint_key, file_digest

pytestmark = pytest.mark.slow

SHOP = "riyadh-oud.myshopify.com"
ORDERS = 5000
RATE = "6000"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    server = Sandbox(tmp_path, rate_limit=int(RATE)).start()
    yield server
    server.stop()


@pytest.fixture
def crm(sandbox: Sandbox) -> Iterator[Crm]:
    view = Crm(sandbox, sandbox.new_org("backfill")["api_key"])
    yield view
    view.close()


@pytest.fixture
def env(redis_url: str, crm: Crm) -> dict[str, str]:
    return worker_env(redis_url, crm, CRM_RATE_LIMIT_PER_MINUTE=RATE)


@pytest.fixture
def worker(tmp_path: Path, env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(tmp_path, env)
    pool.start()
    yield pool
    pool.stop()


def backfill_argv(path: Path) -> list[str]:
    # a small backlog keeps the backfill in step with the worker, so it can be caught mid-way
    return adapter_command(
        "backfill", "--source", "shopify", str(path), "--shop", SHOP, "--max-backlog", "500"
    )


def count(summary: str, label: str) -> int:
    match = re.search(rf"^\s+{label}\s+(\d+)", summary, re.MULTILINE)
    assert match, summary
    return int(match.group(1))


def test_an_interrupted_backfill_finishes_on_rerun_without_duplicates(
    tmp_path: Path, redis_url: str, env: dict[str, str], crm: Crm, worker: Workers
) -> None:
    export = tmp_path / "orders_export.csv"
    orders = write_export(export, ORDERS)
    assert sum(o.line_items > 1 for o in orders) > ORDERS // 2
    checkpoint = checkpoint_key(file_digest(export), SHOP)
    store = redis.Redis.from_url(redis_url, decode_responses=True)

    first = Process(backfill_argv(export), None, env=env, log_path=tmp_path / "first.log").start()
    wait_until(
        lambda: int(store.hget(checkpoint, "done") or 0) >= 1500,
        timeout=60,
        message="the first run past 1,500 orders",
    )
    first.kill()
    assert not store.hexists(checkpoint, "finished_at"), "the first run finished before the kill"

    second = subprocess.run(
        backfill_argv(export), env=env, capture_output=True, text=True, timeout=120
    )

    assert second.returncode == 0, second.stderr
    assert count(second.stdout, "queued") + count(second.stdout, "already done") == ORDERS
    assert count(second.stdout, "already done") >= 1500
    assert count(second.stdout, "mapping errors") == 0
    wait_until(lambda: len(crm.deals()) >= ORDERS, timeout=120, interval=1, message="5,000 deals")
    deals = crm.deals()
    external_ids = {(d.custom_fields or {}).get("external_id") for d in deals}
    assert len(deals) == ORDERS
    assert external_ids == {f"shopify:{SHOP}:order:{o.order_id}" for o in orders}
    assert Counter(d.title for d in deals).most_common(1)[0][1] == 1
    phones = [p for c in crm.contacts() for p in c.phones or []]
    assert {p[:3] for p in phones} == {"+20", "+96"}
    assert all(p.startswith(("+2010", "+9665")) for p in phones)
    store.close()


def test_sigint_stops_the_backfill_and_a_rerun_resumes(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    export = tmp_path / "orders_export.csv"
    write_export(export, 1000)
    checkpoint = checkpoint_key(file_digest(export), SHOP)
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    # no worker runs: the backlog limit holds the backfill after 200 orders (a chunk:
    # each order queues its deal and the completion of its contact)
    argv = [*backfill_argv(export), "--max-backlog", "350"]
    first = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_until(lambda: int(store.hget(checkpoint, "done") or 0) >= 200, timeout=60)

    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)

    assert first.returncode == 130, err
    assert "run it again to resume" in err
    store.delete(*store.keys("outbox:*"))
    second = subprocess.run(
        [*argv, "--max-backlog", "0"], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert second.returncode == 0, second.stderr
    assert (count(second.stdout, "already done"), count(second.stdout, "queued")) == (200, 800)
    store.close()
