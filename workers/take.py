"""From the ledger to the outbox: lease deliveries, map them, queue their commands, ack.

A take job leases a batch of due deliveries (`Ledger.claim`, which first puts back the
deliveries of expired leases), and for each one: maps it and queues its commands in
the outbox once per delivery (`intake.accept_delivery`), or dead-letters it; and only
then acks it in the ledger, recording what it became. The leases are renewed while the
batch is worked on. A worker killed at any instant leaves its deliveries leased until
the lease expires; the next claim takes them again, and the outbox's once-key turns a
second queueing of the same delivery into nothing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapter.ledger import State, Taken
from adapter.ledger.record import compact, decode_raw
from adapter.tenants import DEFAULT_TENANT
from workers import intake, retained, tracing
from workers.context import Context
from workers.testpoints import pause_at

log = logging.getLogger(__name__)


@dataclass
class TakeReport:
    taken: int = 0
    mapped: int = 0
    dead: int = 0
    lost_lease: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "taken": self.taken,
            "mapped": self.mapped,
            "dead": self.dead,
            "lost_lease": self.lost_lease,
        }


class _Leases:
    """The leases of one batch, renewed once a third of their time has passed."""

    def __init__(self, ctx: Context, token: str, digests: list[str]) -> None:
        self.ctx = ctx
        self.token = token
        self.held = digests
        self.renewed = time.monotonic()

    def keep(self) -> None:
        lease = self.ctx.options.delivery_lease
        if time.monotonic() - self.renewed >= lease / 3:
            self.ctx.ledger.renew(self.held, lease, self.token)
            self.renewed = time.monotonic()

    def settled(self, digest: str) -> None:
        self.held.remove(digest)


def take_deliveries(
    ctx: Context, budget: float, heartbeat: Callable[[], None] = lambda: None
) -> TakeReport:
    """Take and settle due deliveries until none are due or `budget` seconds passed;
    `heartbeat` is called between deliveries."""
    token = uuid.uuid4().hex
    report = TakeReport()
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        batch = ctx.ledger.claim(ctx.options.take_batch, ctx.options.delivery_lease, token)
        if not batch:
            break
        pause_at("after-claim")
        leases = _Leases(ctx, token, [taken.digest for taken in batch])
        for taken in batch:
            leases.keep()
            heartbeat()
            _settle(ctx, taken, token, report)
            leases.settled(taken.digest)
    return report


def _settle(ctx: Context, taken: Taken, token: str, report: TakeReport) -> None:
    report.taken += 1
    raw = _raw(taken.body)
    if taken.takes > ctx.options.max_takes:
        # its workers keep dying on it (a mapping that exhausts memory, say)
        reason = f"its workers died {taken.takes - 1} times while taking it"
        outcome = intake.dead_letter(ctx, raw, reason)
    else:
        outcome = intake.accept_delivery(ctx, raw, replays=taken.replays)
        if outcome.dead_letter is None:
            retained.redact(ctx, raw, taken.digest)
    pause_at("after-outbox")
    state: State
    if outcome.dead_letter is not None:
        state, fields = "dead", {"dead_letter": outcome.dead_letter, "reason": outcome.error or ""}
        report.dead += 1
    else:
        state, fields = "mapped", {"commands": str(outcome.commands)}
        if not outcome.duplicate:
            fields["outbox"] = json.dumps(outcome.queued)
        if outcome.tenant != DEFAULT_TENANT:
            fields["tenant"] = outcome.tenant
        report.mapped += 1
    acked = ctx.ledger.ack(
        taken.digest,
        token,
        state=state,
        outcome=fields,
        external_ids=outcome.external_ids,
        # retained for replay: compressed here, off the web side's hot path
        packed_body=compact(taken.body),
    )
    if not acked:
        # the lease expired while mapping and another worker took it: it acks
        report.lost_lease += 1
    else:
        tracing.settled(ctx, raw, commands=outcome.commands, reason=outcome.error)


def _raw(body: bytes) -> dict[str, Any]:
    try:
        raw = decode_raw(body)
    except (zlib.error, ValueError, RecursionError) as exc:
        return {"payload": None, "error": f"unreadable stored delivery: {type(exc).__name__}"}
    return raw if isinstance(raw, dict) else {"payload": raw}
