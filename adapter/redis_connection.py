"""The one way to reach Redis: a REDIS_URL (plus TLS files) becomes a sync or asyncio client.

Accepted forms:

    redis://[[user]:password@]host[:port][/db]                plain TCP
    rediss://[[user]:password@]host[:port][/db]               TLS (REDIS_TLS_* settings)
    unix://[[user]:password@]/path/to/redis.sock[?db=N]       a local socket
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]
                                                              the master Sentinel names

A Sentinel URL lists the sentinels (port 26379 when left out) and the service name
Sentinel knows the master by; the password is the master's. The client asks a
sentinel for the current master and asks again when a connection fails, so a failover
costs reconnects, not a restart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

from adapter.settings import REDIS_URL_FORMS, Settings

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
FORMS = REDIS_URL_FORMS
_SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)


class RedisUrlError(ValueError):
    """REDIS_URL is not one of the accepted forms; the message is one line, without the URL
    (it may hold a password)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"REDIS_URL {problem}; expected {FORMS}")


@dataclass(frozen=True)
class TlsFiles:
    """What a `rediss://` client checks the server with (and shows it, for mutual TLS)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> TlsFiles:
        return cls(
            ca_file=settings.redis_tls_ca_file,
            cert_file=settings.redis_tls_cert_file,
            key_file=settings.redis_tls_key_file,
            verify=settings.redis_tls_verify,
        )

    def problems(self, url: str) -> list[str]:
        """What stops these files from working with `url`, one line each."""
        named = {
            "REDIS_TLS_CA_FILE": self.ca_file,
            "REDIS_TLS_CERT_FILE": self.cert_file,
            "REDIS_TLS_KEY_FILE": self.key_file,
        }
        found = [
            f"{name}: {path} is not a readable file"
            for name, path in named.items()
            if path and not os.access(path, os.R_OK)
        ]
        if any(named.values()) and not url.lower().startswith("rediss://"):
            found.append("REDIS_TLS_* files are set but REDIS_URL does not start with rediss://")
        if bool(self.cert_file) != bool(self.key_file):
            found.append("REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both")
        return found

    def client_options(self) -> dict[str, Any]:
        return {
            "ssl_ca_certs": self.ca_file,
            "ssl_certfile": self.cert_file,
            "ssl_keyfile": self.key_file,
            "ssl_cert_reqs": "required" if self.verify else "none",
            "ssl_check_hostname": self.verify,
        }


NO_TLS = TlsFiles()


@dataclass(frozen=True)
class SentinelAddress:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None


def check_url(url: str) -> None:
    """Raise RedisUrlError unless `url` is one of the accepted forms."""
    if "://" not in url:
        raise RedisUrlError("has no scheme")
    scheme = url.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise RedisUrlError(f"has an unknown scheme {scheme!r}")
    if scheme == SENTINEL_SCHEME:
        parse_sentinel(url)
        return
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise RedisUrlError("has a port that is not a number") from None
    if scheme == "unix":
        if not parts.path:
            raise RedisUrlError("names no socket path")
        return
    if not parts.hostname:
        raise RedisUrlError("names no host")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise RedisUrlError("has a database that is not a number")


def parse_sentinel(url: str) -> SentinelAddress:
    """The parts of a `redis+sentinel://` URL (urlsplit cannot read several hosts)."""
    rest = url.split("://", 1)[1]
    netloc, _, path = rest.partition("/")
    path = path.split("?", 1)[0]
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.strip().rpartition(":") if ":" in host else (host.strip(), "", "")
        if not name:
            raise RedisUrlError("names a sentinel without a host")
        if port and not port.isdigit():
            raise RedisUrlError("has a sentinel port that is not a number")
        sentinels.append((name, int(port) if port else SENTINEL_PORT))
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise RedisUrlError("names no Sentinel service (the master's name)")
    if db and not db.isdigit():
        raise RedisUrlError("has a database that is not a number")
    return SentinelAddress(
        sentinels=tuple(sentinels),
        service=unquote(service),
        db=int(db) if db else 0,
        username=unquote(username) if username else None,
        password=unquote(password) if password else None,
    )


def _tls_options(url: str, tls: TlsFiles) -> dict[str, Any]:
    return tls.client_options() if url.lower().startswith("rediss://") else {}


def _sentinel_options(options: dict[str, Any]) -> dict[str, Any]:
    # a sentinel answers "who is the master": the same timeouts, but as text
    kept = ("socket_timeout", "socket_connect_timeout")
    return {key: options[key] for key in kept if key in options}


def sync_client(url: str, tls: TlsFiles = NO_TLS, **options: Any) -> redis.Redis:
    """A blocking client; `options` are redis-py's (timeouts, retry, decode_responses)."""
    check_url(url)
    if url.lower().startswith(SENTINEL_SCHEME + "://"):
        address = parse_sentinel(url)
        sentinel = redis.sentinel.Sentinel(
            list(address.sentinels), sentinel_kwargs=_sentinel_options(options)
        )
        master: redis.Redis = sentinel.master_for(
            address.service,
            redis_class=redis.Redis,
            db=address.db,
            username=address.username,
            password=address.password,
            **options,
        )
        return master
    client: redis.Redis = redis.Redis.from_url(url, **_tls_options(url, tls), **options)
    return client


def async_client(url: str, tls: TlsFiles = NO_TLS, **options: Any) -> redis.asyncio.Redis:
    """An asyncio client, built as `sync_client` builds its blocking one."""
    check_url(url)
    if url.lower().startswith(SENTINEL_SCHEME + "://"):
        address = parse_sentinel(url)
        sentinel = redis.asyncio.sentinel.Sentinel(
            list(address.sentinels), sentinel_kwargs=_sentinel_options(options)
        )
        master: redis.asyncio.Redis = sentinel.master_for(
            address.service,
            redis_class=redis.asyncio.Redis,
            db=address.db,
            username=address.username,
            password=address.password,
            **options,
        )
        return master
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
        url, **_tls_options(url, tls), **options
    )
    return client


def sync_client_for(settings: Settings, **options: Any) -> redis.Redis:
    return sync_client(settings.redis_url, TlsFiles.from_settings(settings), **options)


def async_client_for(settings: Settings, **options: Any) -> redis.asyncio.Redis:
    return async_client(settings.redis_url, TlsFiles.from_settings(settings), **options)


def masked(url: str) -> str:
    """`url` with its password replaced by ***, for logs and `config check`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    username = userinfo.split(":", 1)[0]
    return f"{scheme}://{username}:***@{hosts}{slash}{path}"
