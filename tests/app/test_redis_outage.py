"""Redis going away: 503 with Retry-After, and never a mark without its record."""

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
