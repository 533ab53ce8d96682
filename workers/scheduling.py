"""When take and flush jobs run: on every store and add, fanned out under a backlog, and
on the pump's tick.

Take jobs (`workers.jobs.take_deliveries`) are rung by the web side when it stores a
delivery and the ledger's bell flag is free (`adapter.ledger.bell`), and by the pump
whenever the ledger holds due deliveries or expired leases and fewer take jobs run
than they could keep busy. RQ's own recovery of a dead worker's jobs is not relied on.

`request_flush` enqueues `workers.jobs.flush_outbox(kind)` unless one is already
queued (a flag with a short TTL, cleared when the job starts, so an add that races
with a finishing flush still gets a flush of its own). A running flush registers in
a sorted set with a lease, so a flush killed with its worker stops counting by itself.

The pump runs in every worker process: each tick it records the worker's heartbeat,
rings for deliveries, and requests a flush for each kind that has entries due
(retries whose backoff has passed, leases of dead workers that expired) but too few
flushes running. Nothing
waits on a particular job finishing, so a job lost with its worker costs only time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from adapter.ledger import bell
from adapter.tenants import DEFAULT_TENANT
from workers.context import Context
from workers.outbox import CAPS, Kind
from workers.redis_trouble import Waiting, is_trouble
from workers.status import beat, gone

log = logging.getLogger(__name__)

FLUSH_FUNCTION = "workers.jobs.flush_outbox"
QUEUED_TTL = 10.0

# ARGV: limit (0: renew only), lease ms, token
_REGISTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] == '0' then
  return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[3])
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


def _queued_key(ctx: Context, kind: Kind) -> str:
    return f"{ctx.ns}outbox:{kind.value}:flush-queued"


def _runners_key(ctx: Context, kind: Kind) -> str:
    return f"{ctx.ns}outbox:{kind.value}:runners"


def outbox_queue(ctx: Context) -> Queue:
    return Queue(ctx.options.outbox_queue, connection=ctx.rq_redis, serializer=JSONSerializer)


def request_flush(ctx: Context, kind: Kind) -> bool:
    """Make sure a flush of `kind` for `ctx`'s tenant is queued; False if one already was.

    Flush jobs are per (tenant, kind): a tenant whose CRM is paused or slow holds only
    its own jobs, never another tenant's."""
    if not ctx.redis.set(_queued_key(ctx, kind), "1", nx=True, px=int(QUEUED_TTL * 1000)):
        return False
    timeout = int(ctx.options.flush_budget + 3 * ctx.options.lease + 60)
    # the default tenant's job keeps the one argument that jobs queued before
    # tenants existed have
    args = [kind.value] if ctx.tenant == DEFAULT_TENANT else [kind.value, ctx.tenant]
    outbox_queue(ctx).enqueue(
        FLUSH_FUNCTION,
        *args,
        job_timeout=timeout,
        result_ttl=0,
        failure_ttl=24 * 3600,
        description=f"flush {kind.value}",
    )
    return True


def flush_started(ctx: Context, kind: Kind) -> None:
    ctx.redis.delete(_queued_key(ctx, kind))


def running_flushes(ctx: Context, kind: Kind) -> int:
    key = _runners_key(ctx, kind)
    now_ms = int(ctx.redis.time()[0]) * 1000
    ctx.redis.zremrangebyscore(key, "-inf", now_ms)
    return int(ctx.redis.zcard(key))


class Runner:
    """A running flush, counted while its lease is renewed (a killed one stops counting)."""

    def __init__(self, ctx: Context, key: str, limit: int, lease: float | None = None) -> None:
        self.ctx = ctx
        self.key = key
        self.limit = limit
        self.token = uuid.uuid4().hex
        self.lease = lease or ctx.options.lease
        self.lease_ms = int(self.lease * 1000)
        self._script = ctx.redis.register_script(_REGISTER)
        self._renewed = 0.0

    def register(self) -> bool:
        self._renewed = time.monotonic()
        return bool(self._script(keys=[self.key], args=[self.limit, self.lease_ms, self.token]))

    def renew(self) -> None:
        if time.monotonic() - self._renewed >= self.lease / 3:
            self._renewed = time.monotonic()
            self._script(keys=[self.key], args=[0, self.lease_ms, self.token])

    def unregister(self) -> None:
        self.ctx.redis.zrem(self.key, self.token)


@contextmanager
def running(ctx: Context, kind: Kind) -> Iterator[Runner | None]:
    """Count this flush as running while inside; None if enough already run."""
    runner = Runner(ctx, _runners_key(ctx, kind), ctx.settings.crm_max_in_flight)
    if not runner.register():
        yield None
        return
    try:
        yield runner
    finally:
        runner.unregister()


def wanted_flushes(ctx: Context, kind: Kind) -> int:
    """How many flushes of `kind` the backlog could keep busy right now."""
    backlog = ctx.outbox.backlog(kind)
    due = backlog.due + backlog.expired
    if due == 0:
        return 0
    return min(ctx.settings.crm_max_in_flight, -(-due // CAPS[kind]))


def fan_out(ctx: Context, kind: Kind) -> bool:
    """Under a backlog, ask for one more flush to run beside this one."""
    if wanted_flushes(ctx, kind) > running_flushes(ctx, kind):
        return request_flush(ctx, kind)
    return False


def wake(ctx: Context) -> list[Kind]:
    """Request a flush for every kind with work due and fewer flushes than it needs, in
    every tenant; the kinds woken, of any tenant."""
    woken: list[Kind] = []
    for tenant in ctx.all_tenants():
        woken += wake_tenant(tenant)
    return woken


def wake_tenant(ctx: Context) -> list[Kind]:
    """`wake` for one tenant: a paused tenant (a 429, a refused key) asks for nothing."""
    if ctx.limiter.next_admit_in() > ctx.options.inline_wait:
        # a flush now would only find the budget spent: ask again on a later tick
        return []
    woken = []
    for kind in Kind:
        if wanted_flushes(ctx, kind) > running_flushes(ctx, kind) and request_flush(ctx, kind):
            woken.append(kind)
    return woken


TAKERS_KEY = "ledger:takers"
TRIM_LOCK_KEY = "ledger:trim-lock"
TRIM_EVERY = 30.0


def running_takers(ctx: Context) -> int:
    now_ms = int(ctx.redis.time()[0]) * 1000
    ctx.redis.zremrangebyscore(TAKERS_KEY, "-inf", now_ms)
    return int(ctx.redis.zcard(TAKERS_KEY))


def taking(ctx: Context) -> Runner:
    """A running take job, counted while its lease is renewed: as long as the leases of
    the deliveries it holds, so a dead taker stops counting when they expire."""
    return Runner(ctx, TAKERS_KEY, limit=1_000_000, lease=ctx.options.delivery_lease)


def wanted_takers(ctx: Context) -> int:
    """How many take jobs the ledger's waiting deliveries could keep busy."""
    waiting = ctx.ledger.backlog().waiting
    if waiting == 0:
        return 0
    return min(ctx.settings.crm_max_in_flight, -(-waiting // ctx.options.take_batch))


def ring_for_deliveries(ctx: Context) -> bool:
    """Ring the bell when deliveries are due (or their workers died) and too few take
    jobs run: a bell lost with a killed worker, or never rung, costs one tick."""
    if wanted_takers(ctx) > running_takers(ctx):
        return bell.ring(ctx.rq_redis, ctx.options.delivery_queue)
    return False


def trim_ledger(ctx: Context) -> int:
    """Now and then (whichever worker comes first), forget settled deliveries past
    their retention or over the memory bound."""
    if not ctx.redis.set(TRIM_LOCK_KEY, "1", nx=True, ex=int(TRIM_EVERY)):
        return 0
    return ctx.ledger.trim()


class Pump:
    """The tick of one worker process: heartbeat, the bell for due deliveries, `wake`
    for the outbox, and now and then the ledger's trim."""

    def __init__(self, ctx: Context, name: str, queues: list[str], interval: float = 0.5) -> None:
        self.ctx = ctx
        self.name = name
        self.queues = queues
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[Kind]:
        beat(self.ctx.redis, self.name, self.queues)
        if self.ctx.options.delivery_queue in self.queues:
            ring_for_deliveries(self.ctx)
            trim_ledger(self.ctx)
        return wake(self.ctx)

    def _run(self) -> None:
        waiting = Waiting(self.ctx.rq_redis)
        while True:
            try:
                self.tick()
            except (redis.RedisError, OSError) as exc:
                if not is_trouble(exc):
                    log.warning("pump: %s", exc)
                # says once what is wrong, and once when it is over
                elif not waiting.until_writable(self._stop):
                    return
            if self._stop.wait(self.interval):
                return

    def start(self) -> Pump:
        self._thread = threading.Thread(target=self._run, name="outbox-pump", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with suppress(redis.RedisError):
            gone(self.ctx.redis, self.name)
