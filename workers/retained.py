"""Retained deliveries are personal data: Shopify's redaction webhooks purge them too.

- `customers/redact`: every retained delivery of that shop that touched the customer
  or one of the orders to redact (the ledger's external-id index), and every other
  one of the shop whose payload names the customer (its id, email or phone);
- `shop/redact`: every retained delivery of the shop.

Runs while the redaction delivery is leased, before its ack: a worker killed in
between leaves it to be taken again, and the purge runs again (it is idempotent).
The redaction delivery itself is kept (it is what a replay would need if its CRM
command failed) and goes with the retention like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from adapter.ledger import DeliveryRecord
from workers.context import Context

log = logging.getLogger(__name__)

CUSTOMER_REDACT = "customers/redact"
SHOP_REDACT = "shop/redact"
_ALL = 10_000_000


def redact(ctx: Context, raw: dict[str, Any], digest: str) -> int:
    """Purge what a redaction delivery asks for; how many deliveries were forgotten."""
    if raw.get("source") != "shopify" or raw.get("topic") not in (CUSTOMER_REDACT, SHOP_REDACT):
        return 0
    shop = str(raw.get("shop_domain") or "")
    payload = raw.get("payload") if isinstance(raw.get("payload"), dict) else {}
    assert isinstance(payload, dict)
    if not shop:
        return 0
    if raw["topic"] == SHOP_REDACT:
        doomed = [r.digest for r in _of_shop(ctx, shop)]
    else:
        doomed = _of_customer(ctx, shop, payload)
    doomed = [d for d in dict.fromkeys(doomed) if d != digest]
    forgotten = ctx.ledger.forget(doomed)
    log.info("%s for shop %s: forgot %d retained deliveries", raw["topic"], shop, forgotten)
    return forgotten


def _of_shop(ctx: Context, shop: str) -> list[DeliveryRecord]:
    return [r for r in ctx.ledger.listing(source="shopify", limit=_ALL) if r.scope == shop]


def _of_customer(ctx: Context, shop: str, payload: dict[str, Any]) -> list[str]:
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    assert isinstance(customer, dict)
    customer_id = str(customer.get("id") or "")
    marks = {str(v).strip().lower() for v in (customer.get("email"), customer.get("phone")) if v}
    external_ids = [f"shopify:{shop}:customer:{customer_id}"] if customer_id else []
    external_ids += [f"shopify:{shop}:order:{o}" for o in _ids(payload.get("orders_to_redact"))]
    doomed = [r.digest for x in external_ids for r in ctx.ledger.find_by_external_id(x)]
    for record in _of_shop(ctx, shop):
        if _names(record, customer_id, marks):
            doomed.append(record.digest)
    return doomed


def _ids(value: Any) -> Iterable[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _names(record: DeliveryRecord, customer_id: str, marks: set[str]) -> bool:
    """Whether a stored delivery's payload names the customer (by id, email or phone)."""
    try:
        delivery = record.delivery()
    except Exception:
        return False
    if delivery is None:
        return False
    payload = delivery.payload
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else None
    if customer_id and customer is not None and str(customer.get("id") or "") == customer_id:
        return True
    if (
        customer_id
        and delivery.topic.startswith("customers/")
        and str(payload.get("id")) == (customer_id)
    ):
        return True
    found = {
        str(v).strip().lower()
        for v in (payload.get("email"), payload.get("phone"), payload.get("contact_email"))
        if v
    }
    if customer is not None:
        found |= {
            str(customer.get(k)).strip().lower() for k in ("email", "phone") if customer.get(k)
        }
    return bool(marks & found)
