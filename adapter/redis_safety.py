"""Redis that can lose acknowledged deliveries is refused, or named.

A delivery is answered 202 once it is in Redis, so Redis must keep it:

- an evicting `maxmemory-policy` (allkeys-*, volatile-*) drops queued deliveries
  silently when memory runs short: `serve`, `worker` and `config check` refuse it;
- without an append-only file a restart loses what came since the last snapshot,
  and `appendfsync no` leaves up to ~30 s to the OS: both are warned about unless
  REDIS_ALLOW_NO_AOF=true says the risk is accepted.

The settings are read with CONFIG GET; where a managed Redis disables CONFIG, from
INFO memory / persistence; where both are refused, a warning says nothing was checked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis

SAFE_POLICY = "noeviction"

UNREADABLE = (
    "could not read Redis's maxmemory-policy or persistence (CONFIG GET and INFO refused): "
    "make sure maxmemory-policy is noeviction and appendonly is yes"
)


@dataclass(frozen=True)
class Durability:
    """What Redis says about eviction and persistence; None where it would not say."""

    maxmemory_policy: str | None
    appendonly: bool | None
    appendfsync: str | None


@dataclass(frozen=True)
class Verdict:
    refusal: str | None
    warnings: tuple[str, ...]

    def describe(self) -> str:
        """One line for /readyz: `ok`, `ok, but: <warnings>`, or the refusal."""
        if self.refusal is not None:
            return self.refusal
        return "ok, but: " + "; ".join(self.warnings) if self.warnings else "ok"


def evicting_message(policy: str) -> str:
    return (
        f"Redis evicts keys when memory is full (maxmemory-policy {policy}), "
        "which silently drops queued deliveries: set maxmemory-policy noeviction"
    )


def no_aof_message() -> str:
    return (
        "Redis has no append-only file (appendonly no): a Redis restart loses the deliveries "
        "acknowledged since its last snapshot; set appendonly yes (appendfsync everysec), "
        "or REDIS_ALLOW_NO_AOF=true to accept that"
    )


def fsync_no_message() -> str:
    return (
        "Redis leaves syncing its append-only file to the OS (appendfsync no): a crash can "
        "lose ~30 s of acknowledged deliveries; set appendfsync everysec, "
        "or REDIS_ALLOW_NO_AOF=true to accept that"
    )


def unreachable_message(error: BaseException) -> str:
    return (
        f"Redis did not answer ({type(error).__name__}): its maxmemory-policy and "
        "persistence were not checked"
    )


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def read_durability(client: redis.Redis) -> Durability:
    """Ask Redis; raises redis.ConnectionError / TimeoutError when it does not answer."""
    try:
        found = {
            _text(k): _text(v)
            for k, v in client.config_get("maxmemory-policy", "appendonly", "appendfsync").items()
        }
        return Durability(
            maxmemory_policy=found.get("maxmemory-policy"),
            appendonly=found["appendonly"] == "yes" if "appendonly" in found else None,
            appendfsync=found.get("appendfsync"),
        )
    except (redis.ConnectionError, redis.TimeoutError):
        raise
    except redis.ResponseError:
        pass  # CONFIG disabled or not permitted (managed Redis): INFO says most of it
    policy: str | None = None
    aof: bool | None = None
    try:
        policy = _text(client.info("memory").get("maxmemory_policy")) or None
        aof = bool(int(client.info("persistence").get("aof_enabled", 0)))
    except (redis.ConnectionError, redis.TimeoutError):
        raise
    except redis.ResponseError:
        pass
    return Durability(maxmemory_policy=policy, appendonly=aof, appendfsync=None)


def judge(durability: Durability, allow_no_aof: bool) -> Verdict:
    if durability.maxmemory_policy is None and durability.appendonly is None:
        return Verdict(None, (UNREADABLE,))
    policy = durability.maxmemory_policy
    refusal = evicting_message(policy) if policy and policy != SAFE_POLICY else None
    warnings: list[str] = []
    if not allow_no_aof:
        if durability.appendonly is False:
            warnings.append(no_aof_message())
        elif durability.appendonly and durability.appendfsync == "no":
            warnings.append(fsync_no_message())
    return Verdict(refusal, tuple(warnings))


def check(client: redis.Redis, allow_no_aof: bool) -> Verdict:
    """The verdict on the Redis behind `client`; unreachable is a warning, not a refusal
    (the web side answers 503 until Redis is back)."""
    try:
        return judge(read_durability(client), allow_no_aof)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        return Verdict(None, (unreachable_message(exc),))


def write_refusal(error: BaseException | str) -> str:
    """Why Redis did not take a write, in words an operator can act on (no data in it)."""
    text = error if isinstance(error, str) else str(error)
    if isinstance(error, redis.exceptions.OutOfMemoryError) or text.startswith("OOM"):
        return "Redis is out of memory (OOM): raise maxmemory, or wait for workers to drain it"
    if isinstance(error, redis.exceptions.ReadOnlyError) or text.startswith("READONLY"):
        return (
            "Redis is a read-only replica (READONLY): point REDIS_URL at the master, "
            "or use a redis+sentinel:// URL"
        )
    if isinstance(error, redis.ConnectionError | redis.TimeoutError | OSError):
        return f"Redis is unreachable ({type(error).__name__})"
    if isinstance(error, str):
        return f"Redis refused the write: {text}"
    return f"Redis refused the write ({type(error).__name__})"


# a key written (and expired at once) to learn whether Redis takes writes now
PROBE_KEY = "adapter:write-probe:"


def describe_trouble(exc: BaseException) -> str | None:
    """What is wrong with Redis, in one phrase, or None if `exc` is not Redis trouble."""
    if isinstance(exc, redis.ReadOnlyError):
        return "Redis is read-only (a replica, or a failover under way)"
    if isinstance(exc, redis.exceptions.OutOfMemoryError) or (
        isinstance(exc, redis.ResponseError) and str(exc).startswith("OOM")
    ):
        return "Redis is full (maxmemory reached with noeviction)"
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | ConnectionError):
        return "Redis is unreachable"
    if isinstance(exc, redis.BusyLoadingError):
        return "Redis is loading its data"
    return None


def probe_writes(connection: redis.Redis) -> str | None:
    """None when Redis accepts a write now, else what is wrong."""
    try:
        connection.set(PROBE_KEY + uuid.uuid4().hex[:8], b"1", px=1000)
    except (redis.RedisError, OSError) as exc:
        return describe_trouble(exc) or f"Redis refuses writes ({type(exc).__name__})"
    return None
