"""One request budget per CRM API key, shared by every worker process through Redis.

The CRM (and our sandbox) admit a request when fewer than N requests were admitted
in the last 60 s: a sliding-window log. We keep the same log, so that we never send
a request it would refuse:

- `log` (sorted set): one member per request; its score is when the CRM admitted it
  at the latest. While a request is in flight that is `now + lease` (it may still be
  on its way); when it completes, the score becomes the completion time. Our score
  is therefore never earlier than the CRM's, and our window never frees a slot
  before the CRM's does.
- `flight` (sorted set): requests in flight, scored by lease expiry, so that the slot
  of a worker killed mid-request frees itself.
- `pause` (string with a TTL): set on a 429 for its Retry-After; nobody is admitted
  until it expires.

Everything runs in Lua with Redis TIME, so every process shares one clock. Keys are
named by a hash of the API key, never the key itself.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

WINDOW_SECONDS = 60.0

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window, max_flight, lease = tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3]), tonumber(ARGV[4])
local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then return {0, paused, now} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= max_flight then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {0, -math.max(1, tonumber(first[2]) - now), now}
end
local admitted = redis.call('ZCARD', KEYS[1])
if admitted >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], admitted - limit, admitted - limit, 'WITHSCORES')
  return {0, math.max(1, tonumber(oldest[2]) + window - now), now}
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[5])
redis.call('ZADD', KEYS[2], now + lease, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window + lease * 2)
redis.call('PEXPIRE', KEYS[2], window + lease * 2)
return {1, 0, now}
"""

# ARGV[2] == '1': the request was sent, so it stays in the log with its completion time.
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return now
"""

# read-only: how long until a request would be admitted (0: now)
_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then return paused end
local admitted = redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf')
if admitted < limit then return 0 end
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - window), '+inf',
    'WITHSCORES', 'LIMIT', admitted - limit, 1)
return math.max(1, tonumber(oldest[2]) + window - now)
"""

# a request still in flight: its slot and its log entry live another lease
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  return 1
end
return 0
"""

_PAUSE = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return redis.call('PTTL', KEYS[1])
"""


class LimiterTimeout(Exception):
    """No slot within the time the caller was willing to wait."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"no CRM request slot for {wait:.2f}s")
        self.wait = wait


@dataclass(frozen=True)
class Admission:
    """An admitted request: `token` names it in the log; `at` is Redis time in seconds."""

    token: str
    at: float


@dataclass(frozen=True)
class Refusal:
    """Not now. `wait` seconds is when to ask again; `reason` is window, flight or pause."""

    wait: float
    reason: str


def key_id(api_key: str) -> str:
    """The name of a key's state in Redis: a hash, so the key itself is never stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:24]


class RateLimiter:
    """The shared budget of one API key: `per_minute` admits per window, `max_in_flight`."""

    def __init__(
        self,
        connection: redis.Redis,
        api_key: str,
        *,
        per_minute: int = 120,
        max_in_flight: int = 5,
        lease_seconds: float = 30.0,
        window_seconds: float = WINDOW_SECONDS,
        poll_seconds: float = 0.02,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.redis = connection
        self.per_minute = per_minute
        self.max_in_flight = max_in_flight
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self.window_ms = max(1, int(window_seconds * 1000))
        self.poll_seconds = poll_seconds
        self._sleep = sleep
        prefix = f"crm:ratelimit:{key_id(api_key)}"
        self.keys = [f"{prefix}:log", f"{prefix}:flight", f"{prefix}:pause"]
        self._acquire = connection.register_script(_ACQUIRE)
        self._release = connection.register_script(_RELEASE)
        self._renew = connection.register_script(_RENEW)
        self._pause = connection.register_script(_PAUSE)
        self._peek = connection.register_script(_PEEK)

    def try_acquire(self) -> Admission | Refusal:
        """Admit one request now, or say how long to wait."""
        token = uuid.uuid4().hex
        args: list[str | int] = [
            self.per_minute,
            self.window_ms,
            self.max_in_flight,
            self.lease_ms,
            token,
        ]
        ok, wait_ms, now_ms = self._acquire(keys=self.keys, args=args)
        if ok:
            return Admission(token, int(now_ms) / 1000)
        wait_ms = int(wait_ms)
        if wait_ms < 0:
            # a slot in flight frees as soon as its request ends: poll, up to its lease
            return Refusal(min(-wait_ms / 1000, self.poll_seconds), "flight")
        reason = "window" if self.redis.pttl(self.keys[2]) <= 0 else "pause"
        return Refusal(wait_ms / 1000, reason)

    def acquire(
        self, timeout: float | None = None, on_wait: Callable[[], None] | None = None
    ) -> Admission:
        """Block until admitted; LimiterTimeout if that would take longer than `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            answer = self.try_acquire()
            if isinstance(answer, Admission):
                return answer
            if deadline is not None:
                left = deadline - time.monotonic()
                if answer.wait > left:
                    raise LimiterTimeout(answer.wait)
            if on_wait is not None:
                on_wait()
            self._sleep(min(answer.wait, 1.0))

    def release(self, admission: Admission, sent: bool = True) -> None:
        """The request ended (`sent`), or was never sent and its slot is given back."""
        self._release(keys=self.keys[:2], args=[admission.token, "1" if sent else "0"])

    def renew(self, admission: Admission) -> bool:
        """Keep an in-flight request's slot another lease (its request is still on its
        way); False if the slot had already expired."""
        return bool(self._renew(keys=self.keys[:2], args=[admission.token, self.lease_ms]))

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (a 429's Retry-After); a longer pause is kept."""
        self._pause(keys=[self.keys[2]], args=[max(1, int(seconds * 1000))])

    def next_admit_in(self) -> float:
        """Seconds until the window or a pause would admit a request (in-flight aside)."""
        wait_ms = int(self._peek(keys=self.keys, args=[self.per_minute, self.window_ms]))
        return wait_ms / 1000

    def paused_for(self) -> float:
        ms = int(self.redis.pttl(self.keys[2]))
        return ms / 1000 if ms > 0 else 0.0

    def in_flight(self) -> int:
        """Requests in flight now (leases of dead workers included until they expire)."""
        return int(self.redis.zcard(self.keys[1]))


class LimiterGate:
    """The CRM client's gate over a RateLimiter: each HTTP attempt takes one slot.

    `prime()` hands over a slot the caller already holds, so that a flush can take its
    first slot before it claims a batch (and never holds a batch while it waits).
    """

    def __init__(
        self,
        limiter: RateLimiter,
        timeout: float | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        self.limiter = limiter
        self.timeout = timeout
        self.on_wait = on_wait
        self._primed: Admission | None = None
        self._in_flight: Admission | None = None

    def prime(self, admission: Admission) -> None:
        self._primed = admission

    def give_back(self) -> None:
        """Return a primed slot that no request used."""
        if self._primed is not None:
            self.limiter.release(self._primed, sent=False)
            self._primed = None

    @contextmanager
    def slot(self) -> Iterator[Admission]:
        admission, self._primed = self._primed, None
        if admission is None:
            admission = self.limiter.acquire(self.timeout, self.on_wait)
        self._in_flight = admission
        try:
            yield admission
        finally:
            self._in_flight = None
            self.limiter.release(admission)

    def renew(self) -> None:
        """Renew the slot of the request in flight, if one is (from a keeper thread)."""
        admission = self._in_flight
        if admission is not None:
            self.limiter.renew(admission)

    def rate_limited(self, retry_after: float) -> None:
        self.limiter.pause(retry_after)
