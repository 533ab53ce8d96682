from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.ops_endpoints.support import Served, serve
from tests.support.processes import Process


@pytest.fixture(scope="module")
def served(redis_process: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The served app (webhooks + operations) under uvicorn, on the session's redis-server."""
    running = serve(f"redis://127.0.0.1:{redis_process.port}/0", tmp_path_factory.mktemp("ops"))
    yield running
    running.process.stop()


@pytest.fixture
def http(served: Served, redis_url: str) -> Iterator[httpx.Client]:
    """A client of the module's server; the database is flushed for each test."""
    with served.client() as client:
        yield client


@pytest.fixture
def text_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()
