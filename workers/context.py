"""Everything a worker process needs, built once from Settings: Redis, the CRM client,
the shared rate limiter, the delivery ledger, the outbox, the id map and the dead
letters.

Tenants (`adapter.tenants`): the context built from Settings is the default tenant's.
`ctx.for_tenant(name)` is another tenant's: the same Redis, ledger, dead letters and
options, but its own CRM client (URL and key), rate limiter and in-flight bound, and
its own outbox, id map and snapshots under the namespace `tenant:{name}:`. Everything
that talks to a CRM is handed the tenant's context, so one tenant's key or data can
never reach another tenant's CRM.
"""

from __future__ import annotations

import copy
import functools
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
from adapter.tenants import DEFAULT_TENANT, Router, tenant_namespace
from workers.deadletters import DeadLetters
from workers.idmap import IdMap
from workers.outbox import Outbox
from workers.ratelimit import RateLimiter
from workers.snapshots import Snapshots

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
    # a tenant whose CRM refused its API key (401/403) tries again this often
    key_probe: float = 30.0
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
            key_probe=_env_float("ADAPTER_KEY_PROBE_SECONDS", cls.key_probe),
            delivery_lease=settings.delivery_lease_seconds,
            backoff=Backoff(
                base=_env_float("ADAPTER_BACKOFF_BASE_SECONDS", 1.0),
                cap=_env_float("ADAPTER_BACKOFF_CAP_SECONDS", 30.0),
            ),
        )


class UnknownTenant(LookupError):
    """A tenant that the configuration no longer names (its entries wait for it)."""


def tenant_settings(settings: Settings, tenant: str) -> Settings:
    """`settings` with the CRM settings of `tenant` in place of the top-level ones."""
    if tenant == DEFAULT_TENANT:
        return settings
    if tenant not in settings.tenants:
        raise UnknownTenant(tenant)
    own = settings.tenants[tenant]
    return settings.model_copy(
        update={
            "crm_base_url": own.crm_base_url,
            "crm_api_key": own.crm_api_key,
            "crm_rate_limit_per_minute": own.crm_rate_limit_per_minute
            or settings.crm_rate_limit_per_minute,
            "crm_max_in_flight": own.crm_max_in_flight or settings.crm_max_in_flight,
        }
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
        self.ledger = Ledger(
            self.rq_redis,
            retention_hours=settings.delivery_retention_hours,
            retention_mb=settings.delivery_retention_mb,
        )
        self.deadletters = DeadLetters(self.redis)
        self.router = Router(settings.tenants)
        self._root_settings = settings
        self.tenant = DEFAULT_TENANT
        self.ns = ""
        # every tenant's context, shared by all of them; built on first use
        self._tenants: dict[str, Context] = {DEFAULT_TENANT: self}
        self._tenants_lock = threading.Lock()
        self._bind(client)

    def _bind(self, client: CrmClient | None) -> None:
        """The parts that belong to this context's tenant."""
        settings = self.settings
        self.limiter = RateLimiter(
            self.redis,
            settings.crm_api_key.get_secret_value(),
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
            observe=(
                metrics.crm_request
                if self.tenant == DEFAULT_TENANT
                else functools.partial(metrics.tenant_crm_request, self.tenant)
            ),
        )
        self.outbox = Outbox(self.redis, ns=self.ns)
        self.idmap = IdMap(self.redis, ns=self.ns)
        self.snapshots = Snapshots(self.redis, ns=self.ns)

    def for_tenant(self, tenant: str) -> Context:
        """The context of `tenant` (UnknownTenant if the configuration does not name it)."""
        with self._tenants_lock:
            found = self._tenants.get(tenant)
            if found is not None:
                return found
            view = copy.copy(self)
            view.settings = tenant_settings(self._root_settings, tenant)
            view.tenant = tenant
            view.ns = tenant_namespace(tenant)
            view._bind(None)
            self._tenants[tenant] = view
            return view

    def all_tenants(self) -> list[Context]:
        """Every configured tenant's context, the default tenant first."""
        return [self.for_tenant(name) for name in self.router.names]

    def close(self) -> None:
        for view in list(self._tenants.values()):
            view.client.close()
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
