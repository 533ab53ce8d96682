"""The dev mode's Redis: REDIS_URL, else redis-server from PATH, else fakeredis made to
run what we run on it (the inbox's script, RQ)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from adapter.dev.errors import DevError
from adapter.dev.redis import FakeRedisServer, RedisServerProcess, redis_server_path, start_redis
from adapter.inbox import Inbox, connect
from adapter.ledger import Ledger
from adapter.webhook import WebhookDelivery
from tests.support.processes import port_open

# the inbox's framing: per command an argument count, then each argument's length and bytes
UNPACK_FRAME = """
local out, pos = {}, 1
while pos <= #ARGV[1] do
  local argc
  argc, pos = struct.unpack('>I4', ARGV[1], pos)
  for _ = 1, argc do
    out[#out + 1], pos = struct.unpack('>I4c0', ARGV[1], pos)
  end
end
return out
"""


def frame(*commands: tuple[bytes, ...]) -> bytes:
    out = b""
    for command in commands:
        out += struct.pack(">I", len(command))
        for arg in command:
            out += struct.pack(">I", len(arg)) + arg
    return out


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRedisServer]:
    server = FakeRedisServer()
    yield server
    server.stop()


@pytest.fixture
def fake_client(fake: FakeRedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(fake.url)
    client.flushall()
    yield client
    client.close()


def test_fakeredis_unpacks_the_inbox_framing_as_redis_does(
    fake_client: redis.Redis, redis_url: str
) -> None:
    data = frame((b"HSET", b"k", b"f", b"\x00\xff" * 300), (b"RPUSH", b"", b"x"))
    real = redis.Redis.from_url(redis_url)

    expected = real.eval(UNPACK_FRAME, 0, data)

    assert fake_client.eval(UNPACK_FRAME, 0, data) == expected
    assert expected == [b"HSET", b"k", b"f", b"\x00\xff" * 300, b"RPUSH", b"", b"x"]
    real.close()


def test_fakeredis_reports_client_addresses_as_redis_does(fake_client: redis.Redis) -> None:
    info = fake_client.client_info()

    host, _, port = str(info["addr"]).rpartition(":")
    assert host == "127.0.0.1"
    assert port.isdigit()


def test_the_ledger_stores_once_and_settles_on_fakeredis(
    fake: FakeRedisServer, fake_client: redis.Redis
) -> None:
    delivery = WebhookDelivery(
        source="form",
        topic="contact",
        delivery_id="dev-1",
        received_at=datetime(2026, 11, 28, tzinfo=UTC),
        form_id="contact",
        payload={"email": "omar@example.com"},
    )

    async def put_twice() -> list[str]:
        inbox = Inbox(connect(fake.url), dedupe_ttl_seconds=60)
        try:
            return [await inbox.put(delivery), await inbox.put(delivery)]
        finally:
            await inbox.aclose()

    assert asyncio.run(put_twice()) == ["queued", "duplicate"]
    ledger = Ledger(fake_client)
    (taken,) = ledger.claim(10, 30, "t")
    assert ledger.ack(taken.digest, "t", state="mapped", outcome={}, external_ids=["x"])
    assert [r.state for r in ledger.find_by_external_id("x")] == ["mapped"]


def test_redis_url_is_used_as_given() -> None:
    running = start_redis("redis://127.0.0.1:1/0")

    assert running.url == "redis://127.0.0.1:1/0"
    running.stop()


@pytest.mark.skipif(redis_server_path() is None, reason="redis-server is not installed")
def test_redis_server_child_is_gone_after_stop() -> None:
    binary = redis_server_path()
    assert binary is not None
    server = RedisServerProcess(binary)
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    assert redis.Redis.from_url(server.url).ping()

    server.stop()

    assert not port_open(port)


def test_asking_for_redis_server_without_one_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("adapter.dev.redis.redis_server_path", lambda: None)

    with pytest.raises(DevError, match="redis-server is not on PATH"):
        start_redis(None, "redis-server")
