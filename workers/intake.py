"""From a verified delivery to commands in the outbox, or to a dead letter — never dropped.

Mapping is pure, so a delivery is mapped, its local commands run (they are
idempotent), and its CRM commands are queued in one atomic step together with a
marker for the delivery (its once-key): a delivery taken twice (its worker died
after queueing, before the ledger heard of it) queues nothing the second time. A
replay changes the once-key, so its commands are queued again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from adapter.crm.commands import AnyCommand, ForgetShop, RecordDataRequest, UpdateDeal, UpsertDeal
from adapter.mapping import MappingError, map_delivery
from adapter.tenants import DEFAULT_TENANT, store_of
from adapter.webhook import WebhookDelivery
from workers.context import Context
from workers.deadletters import delivery_letter
from workers.local import run_local
from workers.outbox import Entry, kind_of
from workers.privacy import scrub
from workers.scheduling import request_flush
from workers.testpoints import pause_at

log = logging.getLogger(__name__)

ACCEPTED_PREFIX = "outbox:accepted:"
ACCEPTED_TTL = 7 * 24 * 3600.0


@dataclass
class Outcome:
    commands: int = 0
    queued: list[str] = field(default_factory=list)
    duplicate: bool = False
    dead_letter: str | None = None
    error: str | None = None
    external_ids: list[str] = field(default_factory=list)
    tenant: str = DEFAULT_TENANT

    def as_dict(self) -> dict[str, Any]:
        return {
            "commands": self.commands,
            "queued": len(self.queued),
            "duplicate": self.duplicate,
            "dead_letter": self.dead_letter,
        }


def accept_delivery(ctx: Context, raw: dict[str, Any], replays: int = 0) -> Outcome:
    """Map a delivery (WebhookDelivery as JSON) and queue its commands once per
    `replays` (how often it was replayed), or dead-letter it."""
    try:
        delivery = WebhookDelivery.model_validate(raw)
    except ValidationError as exc:
        # the error text would quote the payload: name the fields only
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        return _dead(ctx, raw, f"not a webhook delivery: invalid {', '.join(fields)}")
    try:
        commands = map_delivery(delivery, ctx.settings.mapping, ctx.settings.forms)
    except MappingError as exc:
        return _dead(ctx, raw, exc.reason)
    except Exception as exc:
        return _dead(ctx, raw, f"{type(exc).__name__}: {exc}")
    pause_at("after-map")
    tenant = tenant_of(ctx, delivery)
    once_key = accepted_key(delivery) + (f":replay-{replays}" if replays else "")
    queued = queue_commands(
        ctx.for_tenant(tenant),
        commands,
        origin=delivery.delivery_id,
        once_key=once_key,
        received_at=delivery.received_at,
    )
    external_ids = sorted({c.external_id for c in commands if c.external_id})
    if queued is None:
        return Outcome(len(commands), duplicate=True, external_ids=external_ids, tenant=tenant)
    return Outcome(len(commands), queued, external_ids=external_ids, tenant=tenant)


def tenant_of(ctx: Context, delivery: WebhookDelivery) -> str:
    """The tenant whose CRM a delivery feeds, from its source and store."""
    store = store_of(delivery.source, delivery.shop_domain, delivery.form_id, delivery.payload)
    return ctx.router.tenant_of(delivery.source, store)


def accepted_key(delivery: WebhookDelivery) -> str:
    """The delivery's marker, scoped like ingestion's dedupe key: one id can come from
    two sources, shops or forms (two forms sent the same body: the same body hash)."""
    scope = delivery.shop_domain or delivery.form_id or "-"
    return f"{ACCEPTED_PREFIX}{delivery.source}:{scope}:{delivery.delivery_id}"


def queue_commands(
    ctx: Context,
    commands: Sequence[AnyCommand],
    *,
    origin: str | None = None,
    once_key: str | None = None,
    received_at: datetime | None = None,
) -> list[str] | None:
    """Run the local commands, queue the others, in `ctx`'s tenant; None if `once_key`
    was used before."""
    remote: list[AnyCommand] = []
    for command in commands:
        if isinstance(command, ForgetShop | RecordDataRequest):
            run_local(ctx, command)
        else:
            remote.append(command)
    if not remote:
        return []
    known = ctx.idmap.get_many(
        c.external_id for c in remote if isinstance(c, UpsertDeal | UpdateDeal)
    )
    entries = [
        Entry(
            command=command,
            origin=origin,
            received_at=received_at,
            deal_id=known[command.external_id].deal_id if command.external_id in known else None,
        )
        for command in remote
    ]
    ids = ctx.outbox.add(entries, once_key=once_key, once_ttl=ACCEPTED_TTL)
    if ids is None:
        return None
    for kind in dict.fromkeys(kind_of(entry) for entry in entries):
        request_flush(ctx, kind)
    return ids


def dead_letter(ctx: Context, raw: dict[str, Any], error: str) -> Outcome:
    """Keep a delivery that cannot be mapped, raw, with why."""
    return _dead(ctx, raw, error)


def _dead(ctx: Context, raw: dict[str, Any], error: str) -> Outcome:
    letter = delivery_letter(raw if isinstance(raw, dict) else {"payload": raw}, error)
    ctx.deadletters.put(letter)
    log.warning("dead-lettered delivery %s: %s", letter.origin, scrub(error))
    return Outcome(dead_letter=letter.id, error=error)
