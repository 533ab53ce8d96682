"""REDIS_URL forms: the accepted ones parse, the others give one line naming REDIS_URL."""

from __future__ import annotations

import pytest

from adapter.redis_connection import (
    FORMS,
    RedisUrlError,
    SentinelAddress,
    check_url,
    masked,
    parse_sentinel,
)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:secret@redis.internal:6380/2",
        "rediss://user:secret@cache.example.com:6380/0",
        "unix:///run/redis/redis.sock?db=1",
        "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/3",
        "redis+sentinel://sentinel.internal/mymaster",
    ],
)
def test_accepted_forms_pass(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("127.0.0.1:6379", "has no scheme"),
        ("http://127.0.0.1:6379/0", "has an unknown scheme 'http'"),
        ("redis://127.0.0.1:port/0", "has a port that is not a number"),
        ("redis:///0", "names no host"),
        ("redis://127.0.0.1:6379/zero", "has a database that is not a number"),
        ("redis+sentinel://127.0.0.1:26379", "names no Sentinel service (the master's name)"),
        ("redis+sentinel://127.0.0.1:x/mymaster", "has a sentinel port that is not a number"),
    ],
)
def test_bad_url_is_one_line_naming_redis_url_and_the_forms(url: str, problem: str) -> None:
    with pytest.raises(RedisUrlError) as raised:
        check_url(url)
    assert str(raised.value) == f"REDIS_URL {problem}; expected {FORMS}"
    assert "\n" not in str(raised.value)


def test_bad_url_message_never_holds_the_password() -> None:
    with pytest.raises(RedisUrlError) as raised:
        check_url("redis://:hunter2@127.0.0.1:port/0")
    assert "hunter2" not in str(raised.value)


def test_sentinel_url_names_sentinels_service_db_and_password() -> None:
    address = parse_sentinel("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/orders/2")
    assert address == SentinelAddress(
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26379)),
        service="orders",
        db=2,
        username=None,
        password="pw",
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@h:6380/1", "redis://:***@h:6380/1"),
        ("rediss://app:hunter2@h:6380/1", "rediss://app:***@h:6380/1"),
        ("redis+sentinel://:hunter2@a:1,b:2/m", "redis+sentinel://:***@a:1,b:2/m"),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)
def test_masked_hides_the_password(url: str, shown: str) -> None:
    assert masked(url) == shown
