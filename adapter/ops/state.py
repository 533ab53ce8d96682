"""What is going on right now, read from Redis: queues, outbox, dead letters, limits.

The one read side behind `adapter status`, `/status` and the gauges of `/metrics`.
Worker heartbeats and the last CRM error come from `workers.status`, the outbox from
`workers.outbox`, the rate-limit state from `workers.ratelimit`: nothing here writes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from adapter.ledger import Ledger
from adapter.ops.downstream import Downstream
from adapter.ops.trace import Tracer
from adapter.redis_connection import sync_client_for
from adapter.settings import Settings
from adapter.tenants import DEFAULT_TENANT, tenant_namespace
from workers import status
from workers.context import DELIVERY_QUEUE, OUTBOX_QUEUE, tenant_settings
from workers.deadletters import DeadLetters
from workers.outbox import Kind, Outbox
from workers.ratelimit import WINDOW_SECONDS, RateLimiter

REGISTRIES = ("started", "failed", "deferred", "scheduled")


@dataclass(frozen=True)
class QueueState:
    name: str
    queued: int
    started: int
    failed: int
    deferred: int
    scheduled: int


@dataclass(frozen=True)
class OutboxState:
    kind: str
    total: int  # waiting or leased
    due: int  # may be sent now
    leased: int  # claimed by a flush
    oldest_due_seconds: float  # how long the oldest due entry has waited for a slot


@dataclass(frozen=True)
class RateLimitState:
    per_minute: int
    window_requests: int  # admitted in the last window (in flight included)
    in_flight: int
    max_in_flight: int
    paused_for: float  # seconds left of a 429's pause
    next_admit_in: float  # seconds until the window admits again (0: now)


@dataclass(frozen=True)
class TenantState:
    """One CRM organisation (`adapter.tenants`): its outbox, its budget, its key."""

    name: str
    outbox_total: int
    outbox_due: int
    oldest_due_seconds: float
    in_flight: int
    max_in_flight: int
    per_minute: int
    paused_for: float  # seconds left of a pause (a 429, or until the next key probe)
    # since when (and why) the CRM refuses the tenant's API key; None while it works
    key_refused: dict[str, Any] | None = None
    last_crm_error: dict[str, Any] | None = None
    last_crm_success: float | None = None


@dataclass(frozen=True)
class LedgerState:
    """The delivery ledger: deliveries waiting to be mapped, being mapped, retained."""

    waiting: int  # due now, or taken back from a dead worker
    mapping: int  # leased by a live worker
    retained: int  # every record kept (waiting, mapped and dead-lettered ones)
    stored_mb: float


@dataclass(frozen=True)
class Snapshot:
    taken_at: float
    queues: list[QueueState]
    outbox: list[OutboxState]
    dead_letters: int
    rate_limit: RateLimitState
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_crm_error: dict[str, Any] | None = None
    last_crm_success: float | None = None
    # every tenant, the default one first; empty when no tenants are configured
    tenants: list[TenantState] = field(default_factory=list)
    ledger: LedgerState | None = None

    @property
    def failed_jobs(self) -> int:
        return sum(q.failed for q in self.queues)

    @property
    def outbox_total(self) -> int:
        return sum(o.total for o in self.outbox)

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["failed_jobs"] = self.failed_jobs
        found["outbox_total"] = self.outbox_total
        return found


class Reader:
    """Reads with two clients: text for our keys, bytes for RQ's (as workers do)."""

    def __init__(self, settings: Settings, text: redis.Redis, raw: redis.Redis) -> None:
        self.settings = settings
        self.text = text
        self.raw = raw
        self.outbox = Outbox(text)
        self.deadletters = DeadLetters(text)
        self.ledger = Ledger(
            raw,
            retention_hours=settings.delivery_retention_hours,
            retention_mb=settings.delivery_retention_mb,
        )
        namespaces = [tenant_namespace(name) for name in [DEFAULT_TENANT, *settings.tenants]]
        self.downstream = Downstream(text, namespaces)
        self.tracer = Tracer(settings, self.ledger, self.downstream)
        self.limiter = RateLimiter(
            text,
            settings.crm_api_key.get_secret_value(),
            per_minute=settings.crm_rate_limit_per_minute,
            max_in_flight=settings.crm_max_in_flight,
        )

    @classmethod
    def connect(cls, settings: Settings, timeout: float = 5.0) -> Reader:
        options: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": timeout}
        text = sync_client_for(settings, decode_responses=True, **options)
        raw = sync_client_for(settings, **options)
        return cls(settings, text, raw)

    def close(self) -> None:
        self.text.close()
        self.raw.close()

    def ping(self) -> bool:
        try:
            return bool(self.text.ping())
        except (redis.RedisError, OSError):
            return False

    def queues(self) -> list[QueueState]:
        names = {DELIVERY_QUEUE, OUTBOX_QUEUE}
        names.update(q.name for q in Queue.all(connection=self.raw, serializer=JSONSerializer))
        found = []
        for name in sorted(names):
            queue = Queue(name, connection=self.raw, serializer=JSONSerializer)
            counts = {
                registry: getattr(queue, f"{registry}_job_registry").get_job_count(cleanup=False)
                for registry in REGISTRIES
            }
            found.append(QueueState(name, queue.count, **counts))
        return found

    def outbox_states(self) -> list[OutboxState]:
        now_ms = self._now_ms()
        found = []
        for kind in Kind:
            backlog = self.outbox.backlog(kind)
            leased, oldest = self.outbox.leased_and_oldest(kind)
            waited = max(0.0, (now_ms - oldest) / 1000) if oldest is not None else 0.0
            found.append(OutboxState(kind.value, backlog.total, backlog.due, leased, waited))
        return found

    def rate_limit(self) -> RateLimitState:
        window_ms = int(WINDOW_SECONDS * 1000)
        since = self._now_ms() - window_ms
        admitted = int(self.text.zcount(self.limiter.keys[0], f"({since}", "+inf"))
        return RateLimitState(
            per_minute=self.limiter.per_minute,
            window_requests=admitted,
            in_flight=self.limiter.in_flight(),
            max_in_flight=self.limiter.max_in_flight,
            paused_for=self.limiter.paused_for(),
            next_admit_in=self.limiter.next_admit_in(),
        )

    def tenant_states(self) -> list[TenantState]:
        """Each tenant's outbox, limiter and key; [] when no tenants are configured."""
        if not self.settings.tenants:
            return []
        now_ms = self._now_ms()
        found = []
        for name in [DEFAULT_TENANT, *self.settings.tenants]:
            view = tenant_settings(self.settings, name)
            ns = tenant_namespace(name)
            outbox = Outbox(self.text, ns=ns)
            backlogs = [outbox.backlog(kind) for kind in Kind]
            oldest = [outbox.leased_and_oldest(kind)[1] for kind in Kind]
            first = min((o for o in oldest if o is not None), default=None)
            waited = max(0.0, (now_ms - first) / 1000) if first is not None else 0.0
            limiter = RateLimiter(
                self.text,
                view.crm_api_key.get_secret_value(),
                per_minute=view.crm_rate_limit_per_minute,
                max_in_flight=view.crm_max_in_flight,
            )
            crm = status.read_status(self.text, ns)
            found.append(
                TenantState(
                    name=name,
                    outbox_total=sum(b.total for b in backlogs),
                    outbox_due=sum(b.due for b in backlogs),
                    oldest_due_seconds=waited,
                    in_flight=limiter.in_flight(),
                    max_in_flight=limiter.max_in_flight,
                    per_minute=limiter.per_minute,
                    paused_for=limiter.paused_for(),
                    key_refused=status.key_refused(self.text, ns),
                    last_crm_error=crm["last_crm_error"],
                    last_crm_success=crm["last_crm_success"],
                )
            )
        return found

    def snapshot(self) -> Snapshot:
        """Everything at once; raises redis errors (the caller says Redis is down)."""
        found = status.read_status(self.text)
        return Snapshot(
            taken_at=time.time(),
            queues=self.queues(),
            outbox=self.outbox_states(),
            dead_letters=self.deadletters.count(),
            rate_limit=self.rate_limit(),
            workers=found["workers"],
            last_crm_error=found["last_crm_error"],
            last_crm_success=found["last_crm_success"],
            tenants=self.tenant_states(),
            ledger=self.ledger_state(),
        )

    def ledger_state(self) -> LedgerState:
        backlog = self.ledger.backlog()
        return LedgerState(
            waiting=backlog.waiting,
            mapping=backlog.leased - backlog.expired,
            retained=self.ledger.count(),
            stored_mb=round(self.ledger.stored_bytes() / 1e6, 2),
        )

    def _now_ms(self) -> int:
        # Redis's clock: the outbox and the limiter score by it, not by ours
        seconds, micros = self.text.time()
        return int(seconds) * 1000 + int(micros) // 1000
