from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    """A text client on the scratch database (our keys are text)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()
