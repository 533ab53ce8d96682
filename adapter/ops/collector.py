"""`/metrics`: Prometheus text, read from Redis at scrape time.

Counters and histograms are the totals of every process (`adapter.metrics`); gauges
are the state of queues, outbox, dead letters, limiter and workers (`adapter.ops.state`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from adapter import metrics
from adapter.ops.state import Reader, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _counters(reader: Reader) -> Iterator[Metric]:
    for spec in metrics.SPECS:
        if spec.kind == "counter":
            counter = CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
            for labels, value in sorted(metrics.read_counter(reader.text, spec).items()):
                counter.add_metric(list(labels), value)
            yield counter
        else:
            histogram = HistogramMetricFamily(spec.name, spec.help, labels=list(spec.labels))
            for labels, found in sorted(metrics.read_histogram(reader.text, spec).items()):
                buckets: list[tuple[str, float]] = [(b, float(n)) for b, n in found.buckets]
                histogram.add_metric(list(labels), buckets, found.sum)
            yield histogram


def _webhook_views(reader: Reader) -> Iterator[Metric]:
    """Signature failures and duplicates by source: views of the deliveries counter."""
    views = {
        "unauthorized": CounterMetricFamily(
            "adapter_webhook_signature_failures",
            "Webhook requests refused for a missing or wrong signature or token.",
            labels=["source"],
        ),
        "duplicate": CounterMetricFamily(
            "adapter_webhook_duplicates",
            "Verified deliveries already received before (not queued again).",
            labels=["source"],
        ),
    }
    totals: dict[tuple[str, str], int] = {}
    for (source, _topic, outcome), value in metrics.read_counter(
        reader.text, metrics.DELIVERIES
    ).items():
        if outcome in views:
            totals[(outcome, source)] = totals.get((outcome, source), 0) + value
    for (outcome, source), value in sorted(totals.items()):
        views[outcome].add_metric([source], value)
    yield from views.values()


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _gauges(snapshot: Snapshot) -> Iterator[Metric]:
    queued = GaugeMetricFamily(
        "adapter_rq_queue_jobs", "Jobs waiting in an RQ queue.", labels=["queue"]
    )
    registry = GaugeMetricFamily(
        "adapter_rq_registry_jobs",
        "Jobs in an RQ registry (started, failed, deferred, scheduled) of a queue.",
        labels=["queue", "registry"],
    )
    for queue in snapshot.queues:
        queued.add_metric([queue.name], queue.queued)
        for name in ("started", "failed", "deferred", "scheduled"):
            registry.add_metric([queue.name, name], getattr(queue, name))
    yield queued
    yield registry

    entries = GaugeMetricFamily(
        "adapter_outbox_entries", "Commands in the outbox (waiting or leased).", labels=["kind"]
    )
    due = GaugeMetricFamily(
        "adapter_outbox_due_entries", "Outbox commands that may be sent now.", labels=["kind"]
    )
    leased = GaugeMetricFamily(
        "adapter_outbox_leased_entries", "Outbox commands claimed by a flush.", labels=["kind"]
    )
    oldest = GaugeMetricFamily(
        "adapter_outbox_oldest_due_seconds",
        "How long the oldest due outbox command has waited to be sent.",
        labels=["kind"],
    )
    for box in snapshot.outbox:
        entries.add_metric([box.kind], box.total)
        due.add_metric([box.kind], box.due)
        leased.add_metric([box.kind], box.leased)
        oldest.add_metric([box.kind], box.oldest_due_seconds)
    yield from (entries, due, leased, oldest)

    limit = snapshot.rate_limit
    yield _gauge("adapter_dead_letters_current", "Dead letters kept now.", snapshot.dead_letters)
    yield _gauge("adapter_crm_in_flight", "CRM requests in flight now.", limit.in_flight)
    yield _gauge(
        "adapter_crm_rate_limit_window_requests",
        "CRM requests admitted in the current rate-limit window.",
        limit.window_requests,
    )
    yield _gauge(
        "adapter_crm_rate_limit_per_minute", "The configured CRM request budget.", limit.per_minute
    )
    yield _gauge(
        "adapter_crm_rate_limit_paused_seconds",
        "Seconds left of a pause ordered by a 429 (0: not paused).",
        limit.paused_for,
    )
    yield _gauge(
        "adapter_workers_alive", "Delivery workers with a recent heartbeat.", len(snapshot.workers)
    )
    last = GaugeMetricFamily(
        "adapter_crm_last_timestamp_seconds",
        "When the CRM last answered a request with success, or last failed one (Unix time).",
        labels=["result"],
    )
    if snapshot.last_crm_success is not None:
        last.add_metric(["success"], snapshot.last_crm_success)
    if snapshot.last_crm_error is not None:
        last.add_metric(["error"], float(snapshot.last_crm_error.get("at", 0)))
    yield last
    if snapshot.tenants:
        yield from _tenant_gauges(snapshot)


def _tenant_gauges(snapshot: Snapshot) -> Iterator[Metric]:
    """The same, per tenant (`adapter.tenants`), when tenants are configured."""
    specs = {
        "entries": ("adapter_tenant_outbox_entries", "Commands in a tenant's outbox."),
        "due": ("adapter_tenant_outbox_due", "Commands of a tenant that may be sent now."),
        "oldest": (
            "adapter_tenant_outbox_oldest_due_seconds",
            "How long a tenant's oldest due command has waited.",
        ),
        "flight": ("adapter_tenant_crm_in_flight", "A tenant's CRM requests in flight now."),
        "paused": (
            "adapter_tenant_paused_seconds",
            "Seconds left of a tenant's pause (a 429, or until its refused key is tried again).",
        ),
        "refused": (
            "adapter_tenant_key_refused",
            "1 while a tenant's CRM refuses its API key (401/403): its deliveries wait.",
        ),
    }
    families = {
        what: GaugeMetricFamily(name, text, labels=["tenant"])
        for what, (name, text) in specs.items()
    }
    for tenant in snapshot.tenants:
        values = {
            "entries": tenant.outbox_total,
            "due": tenant.outbox_due,
            "oldest": tenant.oldest_due_seconds,
            "flight": tenant.in_flight,
            "paused": tenant.paused_for,
            "refused": 1 if tenant.key_refused is not None else 0,
        }
        for what, value in values.items():
            families[what].add_metric([tenant.name], value)
    yield from families.values()


class RedisCollector(Collector):
    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def collect(self) -> Iterator[Metric]:
        yield from _counters(self.reader)
        yield from _webhook_views(self.reader)
        yield from _gauges(self.reader.snapshot())


def exposition(reader: Reader) -> bytes:
    """The Prometheus text; raises redis errors when Redis does not answer."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(reader))
    return generate_latest(registry)
