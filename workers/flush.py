"""Drain one kind of outbox queue: slot first, then the batch, then the request.

A flush takes a rate-limit slot before it claims entries, so it never holds a batch
while it waits for the CRM's budget, and whatever piled up meanwhile goes out in one
request. It sleeps for a slot or for a batch to fill only briefly (`inline_wait`);
longer waits end the flush, and the pump (see `workers.scheduling`) starts another
when the time comes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from adapter import metrics
from adapter.crm.client import CrmClient
from workers.batch import Batch
from workers.changes import send_change
from workers.contacts import send_contacts
from workers.context import Context
from workers.deals import send_deals
from workers.keeper import Keeper
from workers.leads import send_leads
from workers.outbox import Kind, Wait
from workers.privacy import scrub
from workers.ratelimit import LimiterGate, Refusal

log = logging.getLogger(__name__)

Handler = Callable[[Batch, CrmClient], None]

HANDLERS: dict[Kind, Handler] = {
    Kind.DEALS: send_deals,
    Kind.CONTACTS: send_contacts,
    Kind.LEADS: send_leads,
    Kind.CHANGES: send_change,
}


@dataclass(frozen=True)
class FlushReport:
    batches: int
    entries: int
    # seconds until there may be work again; 0: more now; None: the queue is empty
    wake_in: float | None


def flush(
    ctx: Context,
    kind: Kind,
    budget: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    heartbeat: Callable[[], None] | None = None,
) -> FlushReport:
    """Send batches of `kind` until none is due, `budget` seconds pass, or the next one
    is further away than `inline_wait`. `heartbeat` is called on every round."""
    options = ctx.options
    deadline = time.monotonic() + (options.flush_budget if budget is None else budget)
    linger = 0.0 if kind is Kind.CHANGES else options.linger
    batches = entries = 0

    def report(wake_in: float | None) -> FlushReport:
        return FlushReport(batches, entries, wake_in)

    while True:
        if heartbeat is not None:
            heartbeat()
        left = deadline - time.monotonic()
        if left <= 0:
            return report(0.0)
        answer = ctx.limiter.try_acquire()
        if isinstance(answer, Refusal):
            metrics.rate_limit_wait(answer.reason)
            if answer.wait > min(options.inline_wait, left):
                return report(answer.wait)
            sleep(answer.wait)
            continue
        claim = ctx.outbox.claim(kind, linger=linger, lease=options.lease)
        if isinstance(claim, Wait):
            ctx.limiter.release(answer, sent=False)
            if claim.seconds is None or claim.seconds > min(options.inline_wait, left):
                return report(claim.seconds)
            sleep(claim.seconds)
            continue

        batch = Batch(ctx, claim)
        gate = LimiterGate(ctx.limiter, timeout=options.lease / 3, on_wait=batch.keepalive)
        gate.prime(answer)
        try:
            with Keeper(batch, gate, heartbeat):
                HANDLERS[kind](batch, ctx.client.with_gate(gate))
        except Exception as exc:
            # a bug must not lose the batch: it goes back, and the error is on record
            log.error("flushing %s failed: %s: %s", kind, type(exc).__name__, scrub(str(exc)))
            for claimed in batch.pending():
                if claimed.entry is not None:
                    batch.transient(claimed, f"{type(exc).__name__}: {exc}")
        finally:
            gate.give_back()
            batch.settle()
        batches += 1
        entries += len(claim.entries)
