"""What a real redis-server says about eviction and persistence, and the verdict on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapter.redis_safety import (
    UNREADABLE,
    Durability,
    Verdict,
    check,
    evicting_message,
    fsync_no_message,
    no_aof_message,
    read_durability,
    write_refusal,
)
from tests.support.processes import Process, free_port, start_redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Process]:
    process = start_redis(tmp_path, aof=True)
    yield process
    process.stop()


@pytest.fixture
def client(own_redis: Process) -> Iterator[redis.Redis]:
    with redis.Redis(port=own_redis.port) as found:
        yield found


def test_noeviction_with_aof_is_ok(client: redis.Redis) -> None:
    assert read_durability(client) == Durability("noeviction", True, "everysec")
    assert check(client, allow_no_aof=False) == Verdict(None, ())


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "volatile-ttl", "allkeys-random"])
def test_an_evicting_policy_is_refused_naming_noeviction(client: redis.Redis, policy: str) -> None:
    client.config_set("maxmemory-policy", policy)
    verdict = check(client, allow_no_aof=False)
    assert verdict.refusal == evicting_message(policy)
    assert verdict.refusal.endswith("set maxmemory-policy noeviction")


def test_no_aof_is_warned(client: redis.Redis) -> None:
    client.config_set("appendonly", "no")
    assert check(client, allow_no_aof=False) == Verdict(None, (no_aof_message(),))


def test_no_aof_is_accepted_when_the_user_opts_in(client: redis.Redis) -> None:
    client.config_set("appendonly", "no")
    assert check(client, allow_no_aof=True) == Verdict(None, ())


def test_appendfsync_no_is_warned(client: redis.Redis) -> None:
    client.config_set("appendfsync", "no")
    assert check(client, allow_no_aof=False) == Verdict(None, (fsync_no_message(),))


def test_without_config_the_policy_is_read_from_info(tmp_path: Path) -> None:
    extra = ("--rename-command", "CONFIG", "", "--maxmemory-policy", "allkeys-lru")
    process = start_redis(tmp_path, aof=False, extra=extra)
    try:
        with redis.Redis(port=process.port) as client:
            assert read_durability(client) == Durability("allkeys-lru", False, None)
            verdict = check(client, allow_no_aof=False)
        assert verdict == Verdict(evicting_message("allkeys-lru"), (no_aof_message(),))
    finally:
        process.stop()


def test_without_config_or_info_the_warning_says_nothing_was_checked(
    client: redis.Redis, own_redis: Process
) -> None:
    client.acl_setuser(
        "app", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-config", "-info"]
    )
    with redis.Redis(port=own_redis.port, username="app", password="pw") as limited:
        assert check(limited, allow_no_aof=False) == Verdict(None, (UNREADABLE,))


def test_unreachable_redis_is_a_warning_not_a_refusal() -> None:
    with redis.Redis(port=free_port(), socket_connect_timeout=1) as client:
        verdict = check(client, allow_no_aof=False)
    assert verdict == Verdict(
        None,
        (
            "Redis did not answer (ConnectionError): its maxmemory-policy and persistence "
            "were not checked",
        ),
    )


def test_write_refusals_name_oom_and_readonly() -> None:
    oom = redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'.")
    assert write_refusal(oom).startswith("Redis is out of memory (OOM)")
    readonly = "READONLY You can't write against a read only replica."
    assert write_refusal(readonly).startswith("Redis is a read-only replica (READONLY)")
    assert write_refusal(redis.ConnectionError("x")) == "Redis is unreachable (ConnectionError)"
