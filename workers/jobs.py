"""RQ entry points, enqueued by dotted name with the JSON serializer.

- `process_delivery(delivery)`: one verified delivery (WebhookDelivery as JSON) from the
  `deliveries` queue: mapped, and its commands queued in the outbox.
- `flush_outbox(kind)`: drain one kind of outbox queue (the `outbox` queue).

Both are safe to run twice, so a job lost with a killed worker needs nothing but a
new run (RQ moves it to its failed registry as abandoned; the outbox does not care).
"""

from __future__ import annotations

from typing import Any

from workers import intake, scheduling
from workers.context import get_context
from workers.flush import flush
from workers.outbox import Kind


def process_delivery(delivery: dict[str, Any]) -> dict[str, Any]:
    return intake.accept_delivery(get_context(), delivery).as_dict()


def flush_outbox(kind: str) -> dict[str, Any]:
    ctx = get_context()
    which = Kind(kind)
    scheduling.flush_started(ctx, which)
    with scheduling.running(ctx, which) as runner:
        if runner is None:
            return {"kind": kind, "skipped": "enough flushes are running"}
        scheduling.fan_out(ctx, which)
        report = flush(ctx, which, heartbeat=runner.renew)
    if report.wake_in == 0:
        scheduling.request_flush(ctx, which)
    return {"kind": kind, "batches": report.batches, "entries": report.entries}
