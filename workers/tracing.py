"""What the workers tell `adapter tail` and `adapter trace`: a delivery mapped or
dead-lettered, a command delivered or refused for good (`adapter.events`).

Called after the step is durable (the ledger's ack, the outbox's settle); an event
that cannot be written is not worth failing a delivery for, so Redis errors are
logged and dropped here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import redis

from adapter import events
from workers.context import Context
from workers.outbox import Entry

log = logging.getLogger(__name__)


def _delivery_fields(raw: dict[str, Any]) -> dict[str, object]:
    scope = raw.get("shop_domain") or raw.get("form_id") or "-"
    return {
        "source": str(raw.get("source") or "")[:40],
        "topic": str(raw.get("topic") or "")[:80],
        "scope": str(scope)[:120],
        "id": str(raw.get("delivery_id") or "")[:120],
    }


def settled(ctx: Context, raw: dict[str, Any], *, commands: int, reason: str | None) -> None:
    """A delivery was acked: mapped into `commands` commands, or dead (`reason`)."""
    if reason is None:
        fields = events.event_fields("mapped", **_delivery_fields(raw), commands=commands)
    else:
        fields = events.event_fields("dead", **_delivery_fields(raw), reason=events.mask(reason))
    try:
        events.publish(ctx.redis, [fields])
    except (redis.RedisError, OSError) as exc:
        log.debug("event not written: %s", type(exc).__name__)


def sent(
    ctx: Context,
    kind: str,
    delivered: Iterable[Entry],
    refused: Iterable[tuple[Entry, str]],
) -> None:
    """A batch was settled: `delivered` entries are in the CRM, `refused` dead-lettered."""
    done = [e for e in delivered if e.origin]
    dead = [(e, why) for e, why in refused if e.origin]
    if not done and not dead:
        return
    try:
        known = ctx.idmap.get_many(e.command.external_id for e in done)
        with ctx.redis.pipeline(transaction=False) as pipe:
            for entry in done:
                external_id = entry.command.external_id
                record = known.get(external_id)
                deal_id = (record.deal_id if record else None) or entry.deal_id
                contact_id = (record.contact_id if record else None) or entry.contact_id
                origin = str(entry.origin)
                events.queue_delivered(
                    pipe, origin, external_id, deal_id=deal_id, contact_id=contact_id
                )
                events.queue_event(
                    pipe,
                    events.event_fields(
                        "delivered",
                        id=origin[:120],
                        command=entry.command.kind,
                        outbox=kind,
                        external_id=external_id,
                        deal_id=deal_id,
                        contact_id=contact_id,
                    ),
                )
            for entry, why in dead:
                events.queue_event(
                    pipe,
                    events.event_fields(
                        "dead",
                        id=str(entry.origin)[:120],
                        command=entry.command.kind,
                        external_id=entry.command.external_id,
                        reason=events.mask(why),
                    ),
                )
            pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.debug("events not written: %s", type(exc).__name__)
