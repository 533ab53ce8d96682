"""RQ entry points, enqueued by dotted name with the JSON serializer.

- `take_deliveries()`: the bell (queue `deliveries`): take due deliveries from the
  ledger, map them, queue their commands in the outbox, ack them (`take`).
- `flush_outbox(kind, tenant)`: drain one kind of one tenant's outbox (the `outbox`
  queue); `tenant` defaults to the default tenant, as jobs queued before tenants had.
- `process_delivery(delivery)`: a delivery carried by the job itself, as versions
  before the ledger enqueued them; kept so that jobs queued before an upgrade are
  still delivered.

All are safe to run twice or not at all: the ledger and the outbox own the work, and
the pump rings again for whatever a lost job left.
"""

from __future__ import annotations

import logging
from typing import Any

from adapter.ledger import bell
from adapter.tenants import DEFAULT_TENANT
from workers import intake, scheduling
from workers.context import UnknownTenant, get_context
from workers.flush import flush
from workers.outbox import Kind
from workers.take import take_deliveries as take

log = logging.getLogger(__name__)


def take_deliveries() -> dict[str, Any]:
    ctx = get_context()
    bell.answered(ctx.rq_redis)
    runner = scheduling.taking(ctx)
    runner.register()
    try:
        report = take(ctx, budget=ctx.options.flush_budget, heartbeat=runner.renew)
    finally:
        runner.unregister()
    return report.as_dict()


def process_delivery(delivery: dict[str, Any]) -> dict[str, Any]:
    return intake.accept_delivery(get_context(), delivery).as_dict()


def flush_outbox(kind: str, tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
    try:
        ctx = get_context().for_tenant(tenant)
    except UnknownTenant:
        # its entries stay in its outbox until the configuration names it again
        log.error("flush %s: tenant %r is not configured; its outbox waits", kind, tenant)
        return {"kind": kind, "tenant": tenant, "skipped": "unknown tenant"}
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
