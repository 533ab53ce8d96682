"""Redis going away or refusing writes (full with noeviction, a read-only replica):
503 with Retry-After, never a mark without its record, nothing answered 202 unless stored."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from adapter.ledger import Ledger
from adapter.ledger.keys import MARK_PREFIX
from tests.app.conftest import Server, start_server
from tests.app.signing import shopify_headers
from tests.support.processes import Process, start_redis
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

BODY = b'{"id": 1, "email": "ada@example.com"}'


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Process]:
    """A redis-server of this test's own, with an append-only file as in production."""
    data = tmp_path / "redis-data"
    data.mkdir()
    process = start_redis(data, aof=True)
    yield process
    process.stop()


@pytest.fixture
def outage_server(own_redis: Process, tmp_path: Path) -> Iterator[Server]:
    running = start_server(f"redis://127.0.0.1:{own_redis.port}/0", tmp_path)
    yield running
    running.process.stop()


def test_redis_down_answers_503_with_retry_after(own_redis: Process, outage_server: Server) -> None:
    own_redis.stop()
    with outage_server.client() as http:
        response = http.post("/webhooks/shopify", content=BODY, headers=shopify_headers(BODY))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert set(response.json()) == {"error"}


def test_redis_killed_mid_write_leaves_no_mark_and_the_retry_is_queued(
    own_redis: Process, outage_server: Server, tmp_path: Path
) -> None:
    port = own_redis.port
    assert port is not None
    store = redis.Redis(port=port)
    with outage_server.client() as http:
        first = shopify_headers(BODY, webhook_id="wh-before")
        assert http.post("/webhooks/shopify", content=BODY, headers=first).status_code == 202

        # hold writes so the next delivery's write is in Redis's hands when it dies
        store.client_pause(30_000, all=False)
        headers = shopify_headers(BODY, webhook_id="wh-during")
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(http.post, "/webhooks/shopify", content=BODY, headers=headers)
            wait_until(lambda: store.info("clients")["blocked_clients"] >= 1, timeout=10)
            own_redis.kill()
            response = pending.result(timeout=20)
        assert response.status_code == 503
        assert "Retry-After" in response.headers

        restarted = start_redis(tmp_path / "redis-data", port=port, aof=True)
        try:
            store = redis.Redis(port=port)
            # the delivery acknowledged before the crash survived it
            assert Ledger(store).count() == 1
            assert len(store.keys(MARK_PREFIX + "*")) == 1

            retry = http.post("/webhooks/shopify", content=BODY, headers=headers)
            assert (retry.status_code, retry.json()) == (202, {"status": "queued"})
            assert Ledger(store).count() == 2
        finally:
            store.close()
            restarted.stop()


def _fill(store: redis.Redis) -> None:
    """Leave Redis over its maxmemory with noeviction: it refuses every write that could
    grow memory (as it does once data has reached the limit)."""
    store.set("filler", b"x" * 4 * 1024 * 1024)
    used = int(store.info("memory")["used_memory"])
    store.config_set("maxmemory", used // 2)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        store.set("one-more", b"x")


def _stored(store: redis.Redis) -> tuple[int, int]:
    return Ledger(store).count(), len(store.keys(MARK_PREFIX + "*"))


def test_full_redis_answers_503_with_retry_after_and_stores_nothing(
    own_redis: Process, tmp_path: Path
) -> None:
    server: Server = start_server(f"redis://127.0.0.1:{own_redis.port}/0", tmp_path)
    store = redis.Redis(port=own_redis.port)
    try:
        _fill(store)
        headers = shopify_headers(BODY, webhook_id="wh-while-full")
        with server.client() as http:
            refused = http.post("/webhooks/shopify", content=BODY, headers=headers)
            assert refused.status_code == 503
            assert int(refused.headers["Retry-After"]) > 0
            assert _stored(store) == (0, 0)

            # memory frees: the provider's retry of the same delivery is queued, once
            store.config_set("maxmemory", 0)
            retried = http.post("/webhooks/shopify", content=BODY, headers=headers)
            assert (retried.status_code, retried.json()) == (202, {"status": "queued"})
            assert _stored(store) == (1, 1)
        log = (tmp_path / "server.log").read_text()
        assert "Redis is out of memory (OOM)" in log
    finally:
        store.close()
        server.process.stop()


def test_read_only_replica_answers_503_with_retry_after(own_redis: Process, tmp_path: Path) -> None:
    replica_dir = tmp_path / "replica"
    replica_dir.mkdir()
    replica = start_redis(replica_dir, aof=True)
    server: Server | None = None
    try:
        with redis.Redis(port=replica.port) as store:
            store.replicaof("127.0.0.1", str(own_redis.port))
            wait_until(
                lambda: store.info("replication")["master_link_status"] == "up",
                message="replica linked to its master",
            )
            server = start_server(f"redis://127.0.0.1:{replica.port}/0", tmp_path)
            with server.client() as http:
                response = http.post(
                    "/webhooks/shopify", content=BODY, headers=shopify_headers(BODY)
                )
            assert response.status_code == 503
            assert int(response.headers["Retry-After"]) > 0
            assert _stored(store) == (0, 0)
        with redis.Redis(port=own_redis.port) as master:
            assert _stored(master) == (0, 0)
        assert "Redis is a read-only replica (READONLY)" in (tmp_path / "server.log").read_text()
    finally:
        if server is not None:
            server.process.stop()
        replica.stop()
