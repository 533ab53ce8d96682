"""The webhooks of N order lifecycles, interleaved, with re-deliveries and late older
updates; and the state each order must end in.

Order n belongs to one of the `sources` (round robin). Each is signed as its provider
signs, and each step is newer than the last in the field the mapping orders it by:

- Shopify: orders/create (pending) -> orders/paid -> orders/updated (total changes)
  -> orders/fulfilled -> orders/updated (tags change), a minute apart in `updated_at`;
  late: an orders/updated of step 1's state.
- WooCommerce: order.created (pending) -> order.updated processing -> order.updated
  (total changes) -> order.updated completed, a minute apart in `date_modified_gmt`;
  late: an order.updated of the pending state.
- Salla: order.created (payment_pending) -> order.status.updated in_progress ->
  completed, a minute apart in the envelope's `created_at`; late: the in_progress one
  again, as an older envelope.
- Paymob: a kiosk payment's callback while pending, then the same transaction (same
  id and `created_at`) succeeded; late: the pending callback arrives only after the
  success (Paymob's callbacks carry no time of their own).

The payloads are synthetic (the fields the mapping reads).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from adapter.signing import paymob_hmac

SECRET = "shpss_lifecycle_bench"  # noqa: S105 - the benchmark's own throwaway secrets
WOO_SECRET = "wc_lifecycle_bench"  # noqa: S105
SALLA_SECRET = "salla_lifecycle_bench"  # noqa: S105
PAYMOB_SECRET = "paymob_lifecycle_bench"  # noqa: S105
SHOP = "lifecycle-bench.myshopify.com"
WOO_STORE = "bench-woo"
SALLA_MERCHANT = 1_400_000_001
PAYMOB_INTEGRATION = "4100001"
SOURCES = ("shopify", "woocommerce", "salla", "paymob")
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
REDELIVERED = 0.10  # share of webhooks the provider sends twice
LATE = 0.05  # share of orders that get an older update after everything else
SALLA_TIME = "%a %b %d %Y %H:%M:%S GMT%z"
RIYADH = timezone(timedelta(hours=3))


@dataclass(frozen=True)
class Webhook:
    path: str
    webhook_id: str
    body: bytes
    sign: Callable[[bytes], dict[str, str]] = field(compare=False)

    def headers(self) -> dict[str, str]:
        return self.sign(self.body)


@dataclass(frozen=True)
class Final:
    """What the deal of one order must hold in the end: its stage, its value and the
    status custom fields of its source."""

    stage: str
    value: Decimal
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Lifecycle:
    external_id: str
    steps: list[Webhook]
    # an older update sent after everything else; None: the first step is sent last
    late: Webhook | None
    final: Final


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


# --- Shopify ----------------------------------------------------------------------------


def _shopify_signer(topic: str, webhook_id: str) -> Callable[[bytes], dict[str, str]]:
    def sign(body: bytes) -> dict[str, str]:
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-API-Version": "2026-07",
        }

    return sign


def order_id(n: int) -> int:
    return 5_000_000_000 + n


def _shopify_order(
    n: int, step: int, financial: str, fulfillment: str | None, total: str, tags: str
) -> bytes:
    body = {
        "id": order_id(n),
        "order_number": 1000 + n,
        "name": f"#{1000 + n}",
        "email": f"buyer{n}@example.com",
        "currency": "EUR",
        "total_price": total,
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "tags": tags,
        "created_at": T0.isoformat(),
        "updated_at": (T0 + timedelta(minutes=step)).isoformat(),
        "customer": {
            "first_name": "Bench",
            "last_name": f"Buyer {n}",
            "email": f"buyer{n}@example.com",
        },
        "line_items": [{"name": "Mug", "sku": "MUG-1", "quantity": 2, "price": "20.00"}],
    }
    return json.dumps(body).encode()


def _shopify(n: int) -> Lifecycle:
    base, later = f"{40 + n % 50}.00", f"{45 + n % 50}.00"
    steps = [
        ("orders/create", "pending", None, base, "web"),
        ("orders/paid", "paid", None, base, "web"),
        ("orders/updated", "paid", None, later, "web"),
        ("orders/fulfilled", "paid", "fulfilled", later, "web"),
        ("orders/updated", "paid", "fulfilled", later, "web, gift"),
    ]

    def hook(topic: str, webhook_id: str, body: bytes) -> Webhook:
        return Webhook("/webhooks/shopify", webhook_id, body, _shopify_signer(topic, webhook_id))

    return Lifecycle(
        f"shopify:{SHOP}:order:{order_id(n)}",
        [
            hook(topic, f"wh-{n}-{step}", _shopify_order(n, step, fin, ful, total, tags))
            for step, (topic, fin, ful, total, tags) in enumerate(steps)
        ],
        hook(
            "orders/updated", f"wh-{n}-late", _shopify_order(n, 1, "pending", None, "1.00", "web")
        ),
        Final(
            "won",
            Decimal(later),
            (("financial_status", "paid"), ("fulfillment_status", "fulfilled")),
        ),
    )


# --- WooCommerce ------------------------------------------------------------------------


def _woo_signer(topic: str, delivery_id: str) -> Callable[[bytes], dict[str, str]]:
    def sign(body: bytes) -> dict[str, str]:
        digest = hmac.new(WOO_SECRET.encode(), body, hashlib.sha256).digest()
        resource, _, event = topic.partition(".")
        return {
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": "https://bench-woo.example/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
            "X-WC-Webhook-ID": "7",
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }

    return sign


def _woo(n: int) -> Lifecycle:
    number = 30_000 + n
    base, later = f"{150 + n % 50}.00", f"{160 + n % 50}.00"

    def hook(step: int, status: str, total: str, key: str) -> Webhook:
        order = {
            "id": number,
            "number": str(number),
            "status": status,
            "currency": "SAR",
            "total": total,
            "date_created_gmt": T0.strftime("%Y-%m-%dT%H:%M:%S"),
            "date_modified_gmt": (T0 + timedelta(minutes=step)).strftime("%Y-%m-%dT%H:%M:%S"),
            "billing": {
                "first_name": "نورة",
                "last_name": f"Bench {n}",
                "email": f"woo{n}@example.com",
            },
            "line_items": [{"name": "Oud", "sku": "OUD-1", "quantity": 1, "total": total}],
        }
        topic = "order.created" if step == 0 else "order.updated"
        delivery_id = f"wc-{n}-{key}"
        return Webhook(
            f"/webhooks/woocommerce/{WOO_STORE}",
            delivery_id,
            _json(order),
            _woo_signer(topic, delivery_id),
        )

    return Lifecycle(
        f"woocommerce:{WOO_STORE}:order:{number}",
        [
            hook(0, "pending", base, "0"),
            hook(1, "processing", base, "1"),
            hook(2, "processing", later, "2"),
            hook(3, "completed", later, "3"),
        ],
        hook(1, "pending", "1.00", "late"),
        Final("won", Decimal(later), (("order_status", "completed"),)),
    )


# --- Salla ------------------------------------------------------------------------------


def _salla_sign(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Salla-Security-Strategy": "Signature",
        "X-Salla-Signature": hmac.new(SALLA_SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }


def _salla(n: int) -> Lifecycle:
    salla_id = 2_200_000_000 + n
    reference = 50_000_000 + n
    total = Decimal(f"{200 + n % 50}.50")

    def hook(step: int, slug: str, key: str) -> Webhook:
        order = {
            "id": salla_id,
            "reference_id": reference,
            "status": {"name": slug, "slug": slug},
            "payment_method": "mada",
            "currency": "SAR",
            "amounts": {"total": {"amount": float(total), "currency": "SAR"}},
            "customer": {
                "first_name": "خالد",
                "last_name": f"Bench {n}",
                "email": f"salla{n}@example.com",
            },
        }
        envelope = {
            "event": "order.created" if step == 0 else "order.status.updated",
            "merchant": SALLA_MERCHANT,
            "created_at": (T0 + timedelta(minutes=step)).astimezone(RIYADH).strftime(SALLA_TIME),
            "data": order if step == 0 else {"order": order, "status": slug},
        }
        return Webhook("/webhooks/salla", f"salla-{n}-{key}", _json(envelope), _salla_sign)

    return Lifecycle(
        f"salla:{SALLA_MERCHANT}:order:{salla_id}",
        [hook(0, "payment_pending", "0"), hook(1, "in_progress", "1"), hook(2, "completed", "2")],
        # an older status update, never sent before (its body differs: not a duplicate)
        hook(0, "in_progress", "late"),
        Final("won", total, (("order_status", "completed"),)),
    )


# --- Paymob -----------------------------------------------------------------------------


def _paymob_transaction(n: int, pending: bool, message: str) -> dict[str, Any]:
    cents = 40_000 + 100 * (n % 50)
    return {
        "id": 193_000_000 + n,
        "pending": pending,
        "success": not pending,
        "amount_cents": cents,
        "created_at": T0.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "currency": "EGP",
        "error_occured": False,
        "has_parent_transaction": False,
        "integration_id": int(PAYMOB_INTEGRATION),
        "is_3d_secure": False,
        "is_auth": False,
        "is_capture": False,
        "is_refunded": False,
        "is_standalone_payment": True,
        "is_voided": False,
        "owner": 302_852,
        "order": {
            "id": 218_000_000 + n,
            "amount_cents": cents,
            "currency": "EGP",
            "merchant_order_id": f"BENCH-{n}",
            "shipping_data": {
                "first_name": "أحمد",
                "last_name": f"Bench {n}",
                "email": f"paymob{n}@example.com",
                "country": "EG",
            },
        },
        "source_data": {"pan": "", "type": "aggregator", "sub_type": "AGGREGATOR"},
        "data": {"message": message},
    }


def _paymob_sign(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json"}


def _paymob(n: int) -> Lifecycle:
    def hook(pending: bool, message: str, key: str) -> Webhook:
        transaction = _paymob_transaction(n, pending, message)
        signature = paymob_hmac(transaction, PAYMOB_SECRET)
        path = f"/webhooks/paymob/{PAYMOB_INTEGRATION}?hmac={signature}"
        body = _json({"type": "TRANSACTION", "obj": transaction})
        return Webhook(path, f"paymob-{n}-{key}", body, _paymob_sign)

    return Lifecycle(
        f"paymob:order:{218_000_000 + n}",
        [hook(True, "Pending", "0"), hook(False, "Approved", "1")],
        None,
        Final(
            "won",
            Decimal(40_000 + 100 * (n % 50)) / 100,
            (("payment_outcome", "success"),),
        ),
    )


LIFECYCLES: dict[str, Callable[[int], Lifecycle]] = {
    "shopify": _shopify,
    "woocommerce": _woo,
    "salla": _salla,
    "paymob": _paymob,
}


def lifecycles(orders: int, sources: tuple[str, ...] = SOURCES) -> list[Lifecycle]:
    return [LIFECYCLES[sources[n % len(sources)]](n) for n in range(orders)]


def webhooks(cycles: list[Lifecycle], seed: int = 12) -> list[Webhook]:
    """Every order's lifecycle in its own order, interleaved across orders; some sent
    twice (a later copy of the same delivery), some orders with a late older update."""
    rng = random.Random(seed)
    late = {n for n in range(len(cycles)) if random.Random(seed + n).random() < LATE}
    queues = [
        list(cycle.steps[1:] if n in late and cycle.late is None else cycle.steps)
        for n, cycle in enumerate(cycles)
    ]
    out: list[Webhook] = []
    live = [q for q in queues if q]
    while live:
        # a few orders in flight at once, as a shop's traffic interleaves them
        q = live[rng.randrange(min(len(live), 50))]
        out.append(q.pop(0))
        live = [q for q in live if q]
    for hook in list(out):
        if rng.random() < REDELIVERED:
            out.insert(rng.randrange(out.index(hook) + 1, len(out) + 1), hook)
    for n in sorted(late):
        cycle = cycles[n]
        out.append(cycle.late if cycle.late is not None else cycle.steps[0])
    return out
