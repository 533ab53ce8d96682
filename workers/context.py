"""Everything a worker process needs, built once from Settings: Redis, the CRM client,
the shared rate limiter, the delivery ledger, the outbox, the id map and the dead
letters."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from adapter import metrics
from adapter.crm.client import Backoff, CrmClient
from adapter.ledger import Ledger
from adapter.ledger.bell import BELL_QUEUE
from adapter.redis_connection import NO_TLS, TlsFiles, sync_client
from adapter.settings import Settings, load_settings
from workers.deadletters import DeadLetters
from workers.idmap import IdMap
from workers.outbox import Outbox
from workers.ratelimit import RateLimiter

DELIVERY_QUEUE = BELL_QUEUE
OUTBOX_QUEUE = "outbox"


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def connect(url: str, tls: TlsFiles = NO_TLS, **options: Any) -> redis.Redis:
    """A client that waits out a short Redis outage (a restart, a failover: ~10 s).

    Without retries every command failed at once, in our code and in RQ's bookkeeping
    around a job alike: the worker quit, and a delivery job it was finishing stayed
    "started" until RQ declared it abandoned, 240 s later (or, failed on the error,
    was never run again)."""
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=14)
    client: redis.Redis = sync_client(
        url, tls, retry=retry, retry_on_error=[redis.ConnectionError, redis.TimeoutError], **options
    )
    return client


@dataclass(frozen=True)
class Options:
    """Knobs of the delivery side that Settings does not carry (tests and benchmarks tune
    them through `ADAPTER_*` variables)."""

    # how long a part-full batch may wait for company
    linger: float = 0.5
    # how long a claim, its locks and an in-flight slot live without being renewed; a
    # keeper thread renews them every quarter of it while the worker is alive, however
    # long a CRM request takes, so a dead worker's work is taken again within it
    lease: float = 12.0
    # transient failures of one command are retried for this long, then dead-lettered
    give_up_after: float = 6 * 3600.0
    # an UpdateDeal whose deal does not exist yet waits this long for its create
    missing_deal_grace: float = 600.0
    # a claim reclaimed this often (its workers died holding it) is dead-lettered
    max_reclaims: int = 5
    # a flush job hands its worker back after this long; another job continues
    flush_budget: float = 20.0
    # a flush sleeps for a slot or for company at most this long, else it ends
    inline_wait: float = 2.0
    # a worker holds the deliveries it took this long without renewing; a dead
    # worker's deliveries are taken again once their lease expired
    delivery_lease: float = 10.0
    # deliveries leased at once by a take job
    take_batch: int = 20
    # a delivery whose workers died this often while holding it is dead-lettered
    max_takes: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    outbox_queue: str = OUTBOX_QUEUE
    delivery_queue: str = DELIVERY_QUEUE

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        return cls(
            linger=settings.batch_linger_seconds,
            lease=_env_float("ADAPTER_LEASE_SECONDS", cls.lease),
            give_up_after=_env_float("ADAPTER_GIVE_UP_AFTER_SECONDS", cls.give_up_after),
            missing_deal_grace=_env_float(
                "ADAPTER_MISSING_DEAL_GRACE_SECONDS", cls.missing_deal_grace
            ),
            flush_budget=_env_float("ADAPTER_FLUSH_BUDGET_SECONDS", cls.flush_budget),
            delivery_lease=settings.delivery_lease_seconds,
            backoff=Backoff(
                base=_env_float("ADAPTER_BACKOFF_BASE_SECONDS", 1.0),
                cap=_env_float("ADAPTER_BACKOFF_CAP_SECONDS", 30.0),
            ),
        )


class Context:
    def __init__(
        self,
        settings: Settings,
        options: Options | None = None,
        client: CrmClient | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or Options.from_settings(settings)
        # our keys are text; RQ wants a client that returns bytes
        tls = TlsFiles.from_settings(settings)
        self.redis: redis.Redis = connect(settings.redis_url, tls, decode_responses=True)
        self.rq_redis: redis.Redis = connect(settings.redis_url, tls)
        api_key = settings.crm_api_key.get_secret_value()
        self.limiter = RateLimiter(
            self.redis,
            api_key,
            per_minute=settings.crm_rate_limit_per_minute,
            max_in_flight=settings.crm_max_in_flight,
            lease_seconds=self.options.lease,
        )
        # one attempt per call: the outbox retries, with backoff, without holding a batch
        self.client = client or CrmClient(
            settings.crm_base_url,
            settings.crm_api_key,
            timeout=settings.crm_timeout_seconds,
            max_attempts=1,
        )
        self.ledger = Ledger(
            self.rq_redis,
            retention_hours=settings.delivery_retention_hours,
            retention_mb=settings.delivery_retention_mb,
        )
        self.outbox = Outbox(self.redis)
        self.idmap = IdMap(self.redis)
        self.deadletters = DeadLetters(self.redis)

    def close(self) -> None:
        self.client.close()
        self.redis.close()
        self.rq_redis.close()


_lock = threading.Lock()
_current: Context | None = None


def get_context() -> Context:
    """This process's context, built from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = Context(load_settings())
            metrics.bind(_current.redis)
        return _current


def set_context(context: Context | None) -> None:
    """Use `context` in this process (an in-process worker, a test); None to reset."""
    global _current
    with _lock:
        _current = context
        # this process's worker-side metrics go to the context's Redis
        metrics.bind(context.redis if context is not None else None)
