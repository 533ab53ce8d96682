"""Commands that never reach the CRM: they change only what we keep ourselves."""

from __future__ import annotations

import json
import logging
import time

from adapter.crm.commands import ForgetShop, RecordDataRequest
from workers.context import Context

log = logging.getLogger(__name__)

DATA_REQUESTS_PREFIX = "datarequests:"


def run_local(ctx: Context, command: ForgetShop | RecordDataRequest) -> None:
    if isinstance(command, ForgetShop):
        forget_shop(ctx, command.shop_domain)
    else:
        record_data_request(ctx, command)


def forget_shop(ctx: Context, shop_domain: str) -> dict[str, int]:
    """shop/redact: delete the id map, dead letters and data requests of a shop."""
    forgotten = {
        "id_map_entries": ctx.idmap.delete_prefix(f"shopify:{shop_domain}:"),
        "dead_letters": ctx.deadletters.drop_shop(shop_domain),
        "data_requests": int(ctx.redis.delete(DATA_REQUESTS_PREFIX + shop_domain)),
    }
    log.info(
        "forgot shop %s: %d id map entries, %d dead letters, %d data request lists",
        shop_domain,
        forgotten["id_map_entries"],
        forgotten["dead_letters"],
        forgotten["data_requests"],
    )
    return forgotten


def record_data_request(ctx: Context, command: RecordDataRequest) -> None:
    """customers/data_request: kept for the merchant, keyed by its id (so a replay does
    not record it twice); the log names only the shop and the request."""
    body = {
        "external_id": command.external_id,
        "orders_requested": command.orders_requested,
        "requested_at": command.source_updated_at.isoformat()
        if command.source_updated_at
        else None,
        "recorded_at": time.time(),
    }
    key = DATA_REQUESTS_PREFIX + command.shop_domain
    ctx.redis.hset(key, command.external_id, json.dumps(body))
    log.info(
        "recorded data request %s for shop %s (%d orders)",
        command.external_id,
        command.shop_domain,
        len(command.orders_requested),
    )


def data_requests(ctx: Context, shop_domain: str) -> list[dict[str, object]]:
    raw = ctx.redis.hgetall(DATA_REQUESTS_PREFIX + shop_domain)
    return [json.loads(value) for _, value in sorted(raw.items())]
