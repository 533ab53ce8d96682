"""REDIS_URL forms and TLS files: the accepted ones work, the others give one line naming
the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.redis_connection import (
    FORMS,
    RedisUrlError,
    SentinelAddress,
    TlsFiles,
    check_url,
    masked,
    parse_sentinel,
    sync_client,
)
from tests.support.processes import start_redis


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


def test_tls_files_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    missing = str(tmp_path / "client.key")
    files = TlsFiles(ca_file=str(ca), cert_file=str(ca), key_file=missing)
    assert files.problems("rediss://127.0.0.1:6380/0") == [
        f"REDIS_TLS_KEY_FILE: {missing} is not a readable file"
    ]


def test_tls_files_without_a_rediss_url_are_named(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    assert TlsFiles(ca_file=str(ca)).problems("redis://127.0.0.1:6379/0") == [
        "REDIS_TLS_* files are set but REDIS_URL does not start with rediss://"
    ]


def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "client.crt"
    cert.write_text("")
    assert TlsFiles(cert_file=str(cert)).problems("rediss://127.0.0.1:6380/0") == [
        "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both"
    ]


def test_a_unix_socket_url_reaches_redis(tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    process = start_redis(tmp_path, extra=("--unixsocket", str(socket_path)))
    try:
        with sync_client(f"unix://{socket_path}?db=1") as client:
            assert client.ping()
    finally:
        process.stop()
