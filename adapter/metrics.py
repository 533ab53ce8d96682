"""Metrics that add up across processes: counters and histograms live in Redis.

Every process (each uvicorn worker, each RQ worker, the CLI) adds to the same Redis
hashes, and `/metrics` reads them back at scrape time, so any web process reports
the totals of all of them. Gauges (queue depths, the outbox, dead letters) are not
recorded at all: `adapter.ops` reads them from Redis when scraped.

Storage: one hash per metric, `metrics:<name>`. A counter's field is its label
values joined by `|`; a histogram's fields are `<labels>|<upper bound>` (the count of
observations in that bucket alone, made cumulative when read) and `<labels>|sum`.

Two ways in:

- the web side records into a `WebRecorder`: a dict increment per request, written
  to Redis in one pipeline about every second (`WebRecorder.run`) and before a
  scrape, so the ingestion hot path never waits on a metric;
- workers call the module functions (`crm_request`, `batch_settled`, `rate_limit_wait`,
  `dead_lettered`), written at once through the connection given to `bind()` (a few
  per CRM request; `workers.context` binds its Redis). Unbound, they do nothing.

Per minute, for the `/status` chart: hash `metrics:minute:<Unix minute>` (fields
`deliveries`: verified deliveries stored, `crm_requests`: requests sent to the CRM),
expiring after two hours.

Events for `adapter tail` (`adapter.events`) travel in the same pipelines.

Label values are ours, never a header or payload value: sources, topics and outcomes
are checked against fixed sets (anything else becomes "other").
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import redis
from redis.asyncio import Redis as AsyncRedis

from adapter import events
from adapter.mapping.config import SHOPIFY_TOPICS, STRIPE_EVENTS
from adapter.mapping.store_config import PAYMOB_TYPES, SALLA_EVENTS, WOOCOMMERCE_TOPICS
from adapter.webhook import WebhookDelivery

log = logging.getLogger(__name__)

PREFIX = "metrics:"
RECENT_KEY = "metrics:recent"
RECENT_LIMIT = 50
MINUTE_PREFIX = "metrics:minute:"
MINUTE_TTL_SECONDS = 2 * 3600
PER_MINUTE = ("deliveries", "crm_requests")
SEPARATOR = "|"
OTHER = "other"


@dataclass(frozen=True)
class Spec:
    """One metric. Counter names are given without `_total` (Prometheus adds it)."""

    name: str
    help: str
    labels: tuple[str, ...]
    kind: Literal["counter", "histogram"] = "counter"
    buckets: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        return PREFIX + self.name


ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, math.inf)
CRM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, math.inf)
DELIVERY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, math.inf)

DELIVERIES = Spec(
    "adapter_webhook_deliveries",
    "Webhook requests answered, by source, topic (verified deliveries only) and outcome.",
    ("source", "topic", "outcome"),
)
ACK_SECONDS = Spec(
    "adapter_webhook_ack_seconds",
    "Time from a webhook request's arrival to its 2xx answer.",
    ("source",),
    "histogram",
    ACK_BUCKETS,
)
CRM_REQUESTS = Spec(
    "adapter_crm_requests",
    "HTTP requests sent to the CRM, by endpoint and status (`error`: no answer).",
    ("endpoint", "status"),
)
TENANT_CRM_REQUESTS = Spec(
    "adapter_tenant_crm_requests",
    "HTTP requests sent to a tenant's CRM, by tenant and status (`error`: no answer).",
    ("tenant", "status"),
)
CRM_SECONDS = Spec(
    "adapter_crm_request_seconds",
    "Duration of CRM requests, by endpoint.",
    ("endpoint",),
    "histogram",
    CRM_BUCKETS,
)
ROWS = Spec(
    "adapter_outbox_rows",
    "Outbox entries settled after a CRM request, by outbox kind and result.",
    ("kind", "result"),
)
RATE_LIMIT_WAITS = Spec(
    "adapter_crm_rate_limit_waits",
    "Times a flush found no CRM request slot, by reason (window, flight, pause).",
    ("reason",),
)
DEAD_LETTERS = Spec(
    "adapter_dead_letters",
    "Dead letters written, by kind (command, delivery).",
    ("kind",),
)
DELIVERY_SECONDS = Spec(
    "adapter_delivery_seconds",
    "Time from a webhook's arrival to the CRM's success for its command, by outbox kind.",
    ("kind",),
    "histogram",
    DELIVERY_BUCKETS,
)

WRITES_AVOIDED = Spec(
    "adapter_crm_writes_avoided",
    "CRM work not sent, by reason: `coalesced` (a command merged into a waiting one), "
    "`noop` (an update that changes no field we last wrote), `grouped` (a deal's PATCH "
    "carried by another deal's identical one), `no_read` (a PATCH built without a GET).",
    ("reason",),
)
GUARD_MISSES = Spec(
    "adapter_crm_guard_misses",
    "Guarded PATCHes that matched no row (the deal changed in the CRM since we last "
    "saw it) and fell back to read-merge-write, by record kind.",
    ("record",),
)

SPECS: tuple[Spec, ...] = (
    DELIVERIES,
    ACK_SECONDS,
    CRM_REQUESTS,
    TENANT_CRM_REQUESTS,
    CRM_SECONDS,
    ROWS,
    RATE_LIMIT_WAITS,
    DEAD_LETTERS,
    DELIVERY_SECONDS,
    WRITES_AVOIDED,
    GUARD_MISSES,
)

# --- bounded label values ----------------------------------------------------------

SOURCES = frozenset({"shopify", "stripe", "form", "woocommerce", "salla", "paymob", "unknown"})
OUTCOMES = frozenset(
    {
        "queued",
        "duplicate",
        "ignored",
        "spam",
        # adapter.sources.errors kinds
        "rejected",
        "not_found",
        "too_large",
        "unauthorized",
        "invalid",
        "stale",
        "unsupported_media_type",
        "unavailable",
        "not_configured",
    }
)
REJECTIONS = OUTCOMES - {"queued", "duplicate", "ignored", "spam"}
KNOWN_TOPICS: dict[str, frozenset[str]] = {
    # the privacy topics (customers/redact, ...) are among them
    "shopify": frozenset(SHOPIFY_TOPICS),
    "stripe": frozenset(STRIPE_EVENTS),
    "woocommerce": frozenset(WOOCOMMERCE_TOPICS),
    "salla": frozenset(SALLA_EVENTS),
    "paymob": frozenset(PAYMOB_TYPES),
}
CRM_ENDPOINTS = frozenset(
    {
        "create-lead",
        "create-leads-bulk",
        "create-deals-bulk",
        "import-contacts-bulk",
        "rest-api-proxy/contacts",
        "rest-api-proxy/deals",
    }
)
OUTBOX_KINDS = frozenset({"deals", "contacts", "leads", "changes"})
WAIT_REASONS = frozenset({"window", "flight", "pause"})
AVOIDED_REASONS = frozenset({"coalesced", "noop", "grouped", "no_read"})
RECORD_KINDS = frozenset({"deal", "contact"})
LETTER_KINDS = frozenset({"command", "delivery"})


def one_of(value: str, allowed: Iterable[str]) -> str:
    return value if value in allowed else OTHER


def topic_label(source: str, topic: str, forms: Iterable[str] = ()) -> str:
    """The topic as a label: a known topic, a configured form id, or "other"."""
    if source == "form":
        return topic if topic in forms else OTHER
    return one_of(topic, KNOWN_TOPICS.get(source, ()))


def crm_endpoint(method: str, path: str) -> str:
    """`POST create-deals-bulk`: the path without its query, of a fixed set."""
    return f"{method.upper()} {one_of(path.strip('/').split('?', 1)[0], CRM_ENDPOINTS)}"


def status_label(status: int | None) -> str:
    if status is None:
        return "error"
    return str(status) if 100 <= status <= 599 else OTHER


def _field(labels: Iterable[str]) -> str:
    return SEPARATOR.join(labels)


def _bucket_name(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


# --- writes --------------------------------------------------------------------------


@dataclass
class Writes:
    """Increments not yet in Redis: (key, field) -> amount, and recent deliveries."""

    ints: dict[tuple[str, str], int] = field(default_factory=dict)
    floats: dict[tuple[str, str], float] = field(default_factory=dict)
    recent: list[str] = field(default_factory=list)
    # (Unix minute, name) -> amount
    minutes: dict[tuple[int, str], int] = field(default_factory=dict)
    events: list[dict[str, str]] = field(default_factory=list)
    # (source, status, reason, at) of refused requests
    rejected: list[tuple[str, int, str, float]] = field(default_factory=list)

    def per_minute(self, name: str, amount: int = 1, at: float | None = None) -> None:
        slot = (int((time.time() if at is None else at) // 60), name)
        self.minutes[slot] = self.minutes.get(slot, 0) + amount

    def count(self, spec: Spec, labels: tuple[str, ...], amount: int = 1) -> None:
        slot = (spec.key, _field(labels))
        self.ints[slot] = self.ints.get(slot, 0) + amount

    def observe(self, spec: Spec, labels: tuple[str, ...], values: Iterable[float]) -> None:
        values = [max(value, 0.0) for value in values]
        base = _field(labels)
        # the first bound >= the value: Prometheus buckets count value <= le
        for index, amount in Counter(bisect_left(spec.buckets, v) for v in values).items():
            slot = (spec.key, f"{base}{SEPARATOR}{_bucket_name(spec.buckets[index])}")
            self.ints[slot] = self.ints.get(slot, 0) + amount
        total = (spec.key, f"{base}{SEPARATOR}sum")
        self.floats[total] = self.floats.get(total, 0.0) + sum(values)

    def __bool__(self) -> bool:
        return bool(
            self.ints or self.floats or self.recent or self.minutes or self.events or self.rejected
        )

    def merge(self, other: Writes) -> None:
        """Add `other`'s counts to these (its recent deliveries and events are dropped)."""
        for slot, amount in other.ints.items():
            self.ints[slot] = self.ints.get(slot, 0) + amount
        for minute, amount in other.minutes.items():
            self.minutes[minute] = self.minutes.get(minute, 0) + amount
        for slot, total in other.floats.items():
            self.floats[slot] = self.floats.get(slot, 0.0) + total

    def queue_on(self, pipe: Any) -> None:
        """Add the writes to a redis-py pipeline (sync or asyncio: both queue alike)."""
        for (key, name), amount in self.ints.items():
            pipe.hincrby(key, name, amount)
        for (key, name), total in self.floats.items():
            pipe.hincrbyfloat(key, name, total)
        if self.recent:
            pipe.lpush(RECENT_KEY, *self.recent)
            pipe.ltrim(RECENT_KEY, 0, RECENT_LIMIT - 1)
        for (minute, name), amount in self.minutes.items():
            pipe.hincrby(f"{MINUTE_PREFIX}{minute}", name, amount)
            pipe.expire(f"{MINUTE_PREFIX}{minute}", MINUTE_TTL_SECONDS)
        for source, status, reason, at in self.rejected:
            events.queue_rejected(pipe, source, status, reason, at)
        events.queue_events(pipe, self.events)


class WebRecorder:
    """What the web process records: raw events on the request path (one list append),
    counted and written in one pipeline about every second."""

    def __init__(self, forms: Iterable[str] = (), interval: float = 1.0) -> None:
        self.forms = frozenset(forms)
        self.interval = interval
        self._answers: list[tuple[str, str, str]] = []
        self._acks: list[tuple[str, float]] = []
        self._recent: deque[tuple[datetime, str, str, str, str]] = deque(maxlen=RECENT_LIMIT)
        self._events: list[dict[str, str]] = []
        self._rejected: deque[tuple[str, int, str, float]] = deque(maxlen=events.REJECTED_LIMIT)
        # counted but not written yet: Redis did not answer the last flush
        self._unwritten = Writes()

    def on_outcome(self, source: str, topic: str, outcome: str) -> None:
        """`create_app(on_outcome=...)`: one answer to a webhook request."""
        self._answers.append((source, topic, outcome))

    def on_delivery(self, delivery: WebhookDelivery, outcome: str) -> None:
        """`create_app(on_delivery=...)`: a verified delivery and what became of it."""
        self._recent.append(
            (delivery.received_at, delivery.source, delivery.topic, outcome, delivery.delivery_id)
        )
        self._events.append(
            events.event_fields(
                "verified",
                source=delivery.source,
                topic=delivery.topic[:80],
                scope=(delivery.shop_domain or delivery.form_id or "-")[:120],
                id=delivery.delivery_id[:120],
                outcome=outcome,
            )
        )

    def on_reject(self, source: str, status: int, reason: str) -> None:
        """`create_app(on_reject=...)`: a refused request and why (no header, no body)."""
        self._rejected.append((one_of(source, SOURCES), status, reason[:200], time.time()))

    def acked(self, source: str, seconds: float) -> None:
        self._acks.append((source, seconds))

    def take(self) -> Writes:
        """Everything recorded since the last call, counted."""
        writes, self._unwritten = self._unwritten, Writes()
        answers, self._answers = self._answers, []
        acks, self._acks = self._acks, []
        for (source, topic, outcome), amount in Counter(answers).items():
            source = one_of(source, SOURCES)
            labels = (source, topic_label(source, topic, self.forms), one_of(outcome, OUTCOMES))
            writes.count(DELIVERIES, labels, amount)
        by_source: dict[str, list[float]] = {}
        for source, seconds in acks:
            by_source.setdefault(one_of(source, SOURCES), []).append(seconds)
        for source, values in by_source.items():
            writes.observe(ACK_SECONDS, (source,), values)
        stored = sum(1 for *_, outcome in answers if outcome == "queued")
        if stored:
            writes.per_minute("deliveries", stored)
        # oldest first, so that LPUSH leaves the newest at the head
        writes.recent = [_recent_json(*entry) for entry in self._recent]
        self._recent.clear()
        writes.events, self._events = self._events, []
        writes.rejected = list(self._rejected)
        self._rejected.clear()
        return writes

    async def flush(self, client: AsyncRedis) -> None:
        """Write what was recorded; kept for the next flush if Redis does not answer."""
        writes = self.take()
        if not writes:
            return
        try:
            pipe = client.pipeline(transaction=False)
            writes.queue_on(pipe)
            await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            # counts are kept for the next flush; the recent list only shows the newest
            self._unwritten.merge(writes)
            log.warning("metrics not written: %s", type(exc).__name__)

    async def run(self, client: AsyncRedis) -> None:
        """Flush every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush(client)
            except Exception:
                # a bug here must not stop the counting for the life of the process
                log.exception("metrics flush failed")


def _recent_json(
    received_at: datetime, source: str, topic: str, outcome: str, delivery_id: str
) -> str:
    entry = {
        "at": round(received_at.timestamp(), 3),
        "source": source,
        "topic": topic[:80],
        "outcome": outcome,
        "id": delivery_id[:120],
    }
    return json.dumps(entry, separators=(",", ":"))


# --- the workers' side: written at once ------------------------------------------------

_bound: redis.Redis | None = None


def bind(connection: redis.Redis | None) -> None:
    """Write this process's worker-side metrics through `connection` (None: stop)."""
    global _bound
    _bound = connection


def _write(writes: Writes) -> None:
    connection = _bound
    if connection is None:
        return
    try:
        pipe = connection.pipeline(transaction=False)
        writes.queue_on(pipe)
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        # a metric is never worth failing a delivery for
        log.debug("metrics not written: %s", type(exc).__name__)


def crm_request(method: str, path: str, status: int | None, seconds: float) -> None:
    """One HTTP attempt at the CRM; `status` None when no answer came."""
    endpoint = crm_endpoint(method, path)
    writes = Writes()
    writes.count(CRM_REQUESTS, (endpoint, status_label(status)))
    writes.observe(CRM_SECONDS, (endpoint,), [seconds])
    writes.per_minute("crm_requests")
    _write(writes)


def tenant_crm_request(
    tenant: str, method: str, path: str, status: int | None, seconds: float
) -> None:
    """One HTTP attempt at a tenant's CRM: counted for the tenant and in the totals."""
    writes = Writes()
    writes.count(TENANT_CRM_REQUESTS, (tenant, status_label(status)))
    _write(writes)
    crm_request(method, path, status, seconds)


def batch_settled(
    kind: str,
    *,
    delivered: int,
    follow_up: int,
    retried: int,
    dead_lettered: int,
    arrived: Iterable[datetime] = (),
) -> None:
    """How a claimed batch's entries were settled, and when the delivered ones'
    webhooks arrived (the delivery latency)."""
    label = one_of(kind, OUTBOX_KINDS)
    results = {
        "delivered": delivered,
        "follow_up": follow_up,
        "retried": retried,
        "dead_lettered": dead_lettered,
    }
    writes = Writes()
    for result, amount in results.items():
        if amount:
            writes.count(ROWS, (label, result), amount)
    now = time.time()
    waited = [now - when.timestamp() for when in arrived]
    if waited:
        writes.observe(DELIVERY_SECONDS, (label,), waited)
    if writes:
        _write(writes)


def rate_limit_wait(reason: str) -> None:
    """A flush found no request slot (the window is spent, enough in flight, paused)."""
    writes = Writes()
    writes.count(RATE_LIMIT_WAITS, (one_of(reason, WAIT_REASONS),))
    _write(writes)


def dead_lettered(kind: str) -> None:
    writes = Writes()
    writes.count(DEAD_LETTERS, (one_of(kind, LETTER_KINDS),))
    _write(writes)


# --- reads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    buckets: list[tuple[str, int]]  # cumulative, by upper bound, +Inf last
    count: int
    sum: float


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_counter(connection: redis.Redis, spec: Spec) -> dict[tuple[str, ...], int]:
    """Label values -> total, from every process."""
    found: dict[tuple[str, ...], int] = {}
    for name, value in connection.hgetall(spec.key).items():
        labels = tuple(_text(name).split(SEPARATOR))
        if len(labels) == len(spec.labels):
            found[labels] = int(value)
    return found


def read_histogram(connection: redis.Redis, spec: Spec) -> dict[tuple[str, ...], Histogram]:
    raw: dict[tuple[str, ...], dict[str, str]] = {}
    for name, value in connection.hgetall(spec.key).items():
        *names, part = _text(name).split(SEPARATOR)
        if len(names) == len(spec.labels):
            raw.setdefault(tuple(names), {})[part] = _text(value)
    found: dict[tuple[str, ...], Histogram] = {}
    for labels, parts in raw.items():
        running = 0
        buckets: list[tuple[str, int]] = []
        for bound in spec.buckets:
            name = _bucket_name(bound)
            running += int(parts.get(name, 0))
            buckets.append((name, running))
        found[labels] = Histogram(buckets, running, float(parts.get("sum", 0.0)))
    return found


COLUMNS = ("queued", "duplicate", "ignored", "spam", "rejected")


def source_counts(deliveries: Mapping[tuple[str, ...], int]) -> dict[str, dict[str, int]]:
    """source -> queued / duplicate / ignored / spam / rejected (every refusal)."""
    counts: dict[str, dict[str, int]] = {}
    for (source, _topic, outcome), value in deliveries.items():
        column = "rejected" if outcome in REJECTIONS else outcome
        if column in COLUMNS:
            row = counts.setdefault(source, dict.fromkeys(COLUMNS, 0))
            row[column] += value
    return counts


@dataclass(frozen=True)
class Recent:
    at: float
    source: str
    topic: str
    outcome: str
    id: str


def read_recent(connection: redis.Redis, limit: int = RECENT_LIMIT) -> list[Recent]:
    """The latest verified deliveries, newest first."""
    found: list[Recent] = []
    for raw in connection.lrange(RECENT_KEY, 0, limit - 1):
        try:
            item = json.loads(raw)
            found.append(
                Recent(
                    float(item["at"]),
                    str(item["source"]),
                    str(item["topic"]),
                    str(item["outcome"]),
                    str(item["id"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found


def writes_avoided(reason: str, amount: int = 1) -> None:
    """CRM work we did not send: merged, unchanged, grouped, or written without a read."""
    if amount <= 0:
        return
    writes = Writes()
    writes.count(WRITES_AVOIDED, (one_of(reason, AVOIDED_REASONS),), amount)
    _write(writes)


def guard_missed(record: str) -> None:
    """A guarded PATCH matched no row: someone changed the record since we saw it."""
    writes = Writes()
    writes.count(GUARD_MISSES, (one_of(record, RECORD_KINDS),))
    _write(writes)


@dataclass(frozen=True)
class Minute:
    start: float  # Unix time of the minute's first second
    counts: dict[str, int]


def read_minutes(
    connection: redis.Redis, minutes: int = 60, now: float | None = None
) -> list[Minute]:
    """The last `minutes` minutes (the current one last), counts of `PER_MINUTE`."""
    current = int((time.time() if now is None else now) // 60)
    wanted = list(range(current - minutes + 1, current + 1))
    with connection.pipeline(transaction=False) as pipe:
        for minute in wanted:
            pipe.hgetall(f"{MINUTE_PREFIX}{minute}")
        raws: list[Any] = pipe.execute()
    found = []
    for minute, raw in zip(wanted, raws, strict=True):
        counts = {name: 0 for name in PER_MINUTE}
        for name, value in raw.items():
            if _text(name) in counts:
                counts[_text(name)] = int(value)
        found.append(Minute(minute * 60.0, counts))
    return found
