"""What the chaos run sends, and the CRM state it must end in.

Every source and the topics that make records: Shopify orders/create, orders/updated,
orders/paid, orders/cancelled, customers/create, checkouts/create; Stripe
checkout.session.completed, payment_intent.succeeded, customer.created; two lead forms
(HMAC-signed and standard-webhooks-signed); WooCommerce order.created then
order.updated (pending -> processing -> completed, some cancelled); Salla
order.created then order.status.updated; Paymob transaction callbacks (a pending
kiosk payment, then the same transaction succeeded). Signed with `adapter.signing`,
the way each provider signs (Stripe and standard webhooks sign each attempt afresh;
WooCommerce keeps its delivery id on a retry; Paymob signs the callback's fields into
the `hmac` query parameter).

The schedule is a list of waves, each posted concurrently. It holds re-deliveries
(the same webhook id or event id, sometimes in the same wave as the first copy),
out-of-order updates (an orders/updated older than one delivered before it, an update
before its order's create) and bursts (waves of ~150 concurrent posts).

Every entity has its own email, so the expected contacts are one per email. The
expected deal of an order is its version with the newest `updated_at`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from adapter.settings import FormAuth
from adapter.signing import (
    form_headers,
    paymob_hmac,
    salla_signature_headers,
    shopify_headers,
    standard_webhooks_headers,
    stripe_headers,
    woocommerce_headers,
)

SHOPIFY_SECRET = "shpss_chaos_0123456789abcdef"
STRIPE_SECRET = "whsec_chaosStripeSecret0123456789"
FORM_HMAC_SECRET = "chaos-form-hmac-secret"
FORM_SW_SECRET = "whsec_Y2hhb3Mtc3RhbmRhcmQtd2ViaG9va3Mta2V5"
WOOCOMMERCE_SECRET = "wc-chaos-secret-0123456789"
SALLA_SECRET = "salla-chaos-secret-0123456789"
PAYMOB_SECRET = "paymob-chaos-hmac-0123456789"
SHOP = "chaos-store.myshopify.com"
WOO_STORE = "chaos-woo"
SALLA_MERCHANT = 1_305_000_001
PAYMOB_INTEGRATION = "4097001"
SALLA_TIME = "%a %b %d %Y %H:%M:%S GMT%z"
DOMAIN = "example.com"
T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)

FORMS = {
    "contact": ("Contact us", FormAuth(kind="hmac", secrets=[SecretStr(FORM_HMAC_SECRET)])),
    "demo": (
        "Book a demo",
        FormAuth(kind="standard_webhooks", secrets=[SecretStr(FORM_SW_SECRET)]),
    ),
}
CONFIG = f"""
[forms.contact]
name = "{FORMS["contact"][0]}"
[forms.contact.auth]
kind = "hmac"
secrets = ["{FORM_HMAC_SECRET}"]

[forms.demo]
name = "{FORMS["demo"][0]}"
[forms.demo.auth]
kind = "standard_webhooks"
secrets = ["{FORM_SW_SECRET}"]
"""

# Shopify financial status -> the pipeline stage of the mapping's defaults
STAGES = {"pending": "new", "authorized": "qualified", "paid": "won", "voided": "lost"}
# the same for WooCommerce statuses and Salla status slugs
WOO_STAGES = {"pending": "new", "processing": "won", "completed": "won", "cancelled": "lost"}
SALLA_STAGES = {"payment_pending": "new", "in_progress": "qualified", "completed": "won"}


@dataclass
class Delivery:
    """One webhook delivery; `headers()` signs it as its provider would, now."""

    key: str
    path: str
    body: bytes
    sign: Callable[[bytes], dict[str, str]]

    def headers(self) -> dict[str, str]:
        return self.sign(self.body)


@dataclass(frozen=True)
class ExpectedDeal:
    title: str
    stage: str
    value: Decimal
    currency: str
    email: str


@dataclass(frozen=True)
class ExpectedContact:
    # None: not checked (the name depends on which delivery arrived first)
    first_name: str | None = None
    last_name: str | None = None


@dataclass
class Expected:
    deals: dict[str, ExpectedDeal] = field(default_factory=dict)
    contacts: dict[str, ExpectedContact] = field(default_factory=dict)


@dataclass
class Workload:
    waves: list[list[Delivery]]
    expected: Expected
    unique: int
    redeliveries: int

    @property
    def total(self) -> int:
        return sum(len(wave) for wave in self.waves)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _email(kind: str, n: int) -> str:
    return f"{kind}-{n}@{DOMAIN}"


def _shopify(topic: str, webhook_id: str) -> Callable[[bytes], dict[str, str]]:
    def sign(body: bytes) -> dict[str, str]:
        return shopify_headers(body, SHOPIFY_SECRET, topic, SHOP, webhook_id=webhook_id)

    return sign


def _stripe(body: bytes) -> dict[str, str]:
    return stripe_headers(body, STRIPE_SECRET)


def _woocommerce(topic: str, delivery_id: str) -> Callable[[bytes], dict[str, str]]:
    def sign(body: bytes) -> dict[str, str]:
        return woocommerce_headers(body, WOOCOMMERCE_SECRET, topic, delivery_id=delivery_id)

    return sign


def _salla(body: bytes) -> dict[str, str]:
    return salla_signature_headers(body, SALLA_SECRET)


def _paymob(body: bytes) -> dict[str, str]:
    # the signature is in the path's query (`hmac`), over the callback's fields
    return {"Content-Type": "application/json"}


def _form(form_id: str, msg_id: str) -> Callable[[bytes], dict[str, str]]:
    auth = FORMS[form_id][1]

    def sign(body: bytes) -> dict[str, str]:
        if auth.kind == "standard_webhooks":
            # the sender's own message id, the same on every retry and re-delivery
            return standard_webhooks_headers(body, FORM_SW_SECRET, msg_id=msg_id)
        return form_headers(body, auth)

    return sign


# --- entities -------------------------------------------------------------------------


def _order_versions(n: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """(topic, order) in the order Shopify made them, newest last."""
    email = _email("order", n)
    price = Decimal(1000 + 7 * n) / 100
    base = {
        "id": 5_000_000_000 + n,
        "name": f"#{1001 + n}",
        "order_number": 1001 + n,
        "email": email,
        "contact_email": email,
        "created_at": _ts(T0 + timedelta(minutes=n)),
        "currency": "EGP",
        "customer": {
            "id": 6_000_000_000 + n,
            "email": email,
            "first_name": "Order",
            "last_name": f"Buyer{n}",
        },
        "line_items": [{"name": "Widget", "sku": "W-1", "quantity": 1, "price": str(price)}],
        "cancelled_at": None,
    }

    def version(
        topic: str, step: int, status: str, total: Decimal, **extra: Any
    ) -> tuple[str, dict[str, Any]]:
        updated = _ts(T0 + timedelta(minutes=n, seconds=10 * step))
        order = {
            **base,
            "updated_at": updated,
            "financial_status": status,
            "total_price": str(total),
            **extra,
        }
        return topic, order

    versions = [
        version("orders/create", 0, "pending", price),
        version("orders/updated", 1, "authorized", price + 1),
    ]
    if rng.random() < 0.6:
        versions.append(version("orders/paid", 2, "paid", price + 1))
    if rng.random() < 0.2:
        cancelled = _ts(T0 + timedelta(minutes=n, seconds=30))
        versions.append(version("orders/cancelled", 3, "voided", price + 1, cancelled_at=cancelled))
    return versions


def _expected_order(order: dict[str, Any]) -> ExpectedDeal:
    stage = "lost" if order["cancelled_at"] else STAGES[order["financial_status"]]
    return ExpectedDeal(
        title=f"Order {order['name']}",
        stage=stage,
        value=Decimal(order["total_price"]),
        currency="EGP",
        email=order["email"],
    )


@dataclass
class _Builder:
    rng: random.Random
    expected: Expected = field(default_factory=Expected)
    # per entity, its deliveries in the order they are to be sent
    sequences: list[list[Delivery]] = field(default_factory=list)

    def orders(self, count: int) -> None:
        for n in range(count):
            versions = _order_versions(n, self.rng)
            deliveries = [
                Delivery(
                    f"order-{n}-{i}",
                    "/webhooks/shopify",
                    _json(order),
                    _shopify(topic, f"wh-order-{n}-{i}"),
                )
                for i, (topic, order) in enumerate(versions)
            ]
            roll = self.rng.random()
            if roll < 0.1 and len(deliveries) >= 3:
                # an older orders/updated arrives after a newer delivery
                deliveries[1], deliveries[2] = deliveries[2], deliveries[1]
            elif roll < 0.2:
                # the update arrives before its order's create
                deliveries[0], deliveries[1] = deliveries[1], deliveries[0]
            self.sequences.append(deliveries)
            newest = max((order for _, order in versions), key=lambda o: o["updated_at"])
            self.expected.deals[f"shopify:{SHOP}:order:{5_000_000_000 + n}"] = _expected_order(
                newest
            )
            self.expected.contacts[_email("order", n)] = ExpectedContact("Order", f"Buyer{n}")

    def customers(self, count: int) -> None:
        for n in range(count):
            email = _email("customer", n)
            customer = {
                "id": 7_000_000_000 + n,
                "email": email,
                "first_name": "Customer",
                "last_name": f"Number{n}",
                "created_at": _ts(T0),
                "updated_at": _ts(T0 + timedelta(minutes=n)),
            }
            self.sequences.append(
                [
                    Delivery(
                        f"customer-{n}",
                        "/webhooks/shopify",
                        _json(customer),
                        _shopify("customers/create", f"wh-customer-{n}"),
                    )
                ]
            )
            self.expected.contacts[email] = ExpectedContact("Customer", f"Number{n}")

    def checkouts(self, count: int) -> None:
        for n in range(count):
            email = _email("checkout", n)
            token = f"chaoscheckout{n:06d}"
            total = Decimal(500 + 3 * n) / 100
            checkout = {
                "id": 8_000_000_000 + n,
                "token": token,
                "email": email,
                "currency": "USD",
                "total_price": str(total),
                "completed_at": None,
                "customer": {"email": email, "first_name": "Checkout", "last_name": f"Shopper{n}"},
                "line_items": [{"title": "Gadget", "quantity": 1, "price": str(total)}],
                "created_at": _ts(T0),
                "updated_at": _ts(T0 + timedelta(minutes=n)),
            }
            self.sequences.append(
                [
                    Delivery(
                        f"checkout-{n}",
                        "/webhooks/shopify",
                        _json(checkout),
                        _shopify("checkouts/create", f"wh-checkout-{n}"),
                    )
                ]
            )
            self.expected.deals[f"shopify:{SHOP}:checkout:{token}"] = ExpectedDeal(
                f"Abandoned checkout {token}", "new", total, "USD", email
            )
            self.expected.contacts[email] = ExpectedContact("Checkout", f"Shopper{n}")

    def payments(self, count: int) -> None:
        """A checkout session and its payment intent: two events, one deal."""
        for n in range(count):
            email = _email("stripe", n)
            intent = f"pi_chaos{n:06d}"
            amount = 2000 + 11 * n
            created = int((T0 + timedelta(minutes=n)).timestamp())
            session = {
                "id": f"evt_chaos_session_{n:06d}",
                "object": "event",
                "type": "checkout.session.completed",
                "created": created + 1,
                "livemode": True,
                "data": {
                    "object": {
                        "id": f"cs_chaos{n:06d}",
                        "object": "checkout.session",
                        "payment_intent": intent,
                        "amount_total": amount,
                        "currency": "usd",
                        "payment_status": "paid",
                        "mode": "payment",
                        "customer_details": {"email": email, "name": f"Stripe Buyer{n}"},
                    }
                },
            }
            paid = {
                "id": f"evt_chaos_intent_{n:06d}",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": created,
                "livemode": True,
                "data": {
                    "object": {
                        "id": intent,
                        "object": "payment_intent",
                        "amount": amount,
                        "currency": "usd",
                        "status": "succeeded",
                        "receipt_email": email,
                    }
                },
            }
            pair = [
                Delivery(f"intent-{n}", "/webhooks/stripe", _json(paid), _stripe),
                Delivery(f"session-{n}", "/webhooks/stripe", _json(session), _stripe),
            ]
            self.rng.shuffle(pair)
            self.sequences.append(pair)
            self.expected.deals[f"stripe:pi:{intent}"] = ExpectedDeal(
                f"Payment {intent}", "won", Decimal(amount) / 100, "USD", email
            )
            self.expected.contacts[email] = ExpectedContact()

    def stripe_customers(self, count: int) -> None:
        for n in range(count):
            email = _email("stripe-customer", n)
            event = {
                "id": f"evt_chaos_customer_{n:06d}",
                "object": "event",
                "type": "customer.created",
                "livemode": True,
                "created": int((T0 + timedelta(minutes=n)).timestamp()),
                "data": {
                    "object": {
                        "id": f"cus_chaos{n:06d}",
                        "object": "customer",
                        "email": email,
                        "name": f"Stripe Customer{n}",
                    }
                },
            }
            self.sequences.append(
                [Delivery(f"stripe-customer-{n}", "/webhooks/stripe", _json(event), _stripe)]
            )
            self.expected.contacts[email] = ExpectedContact()

    def leads(self, count: int) -> None:
        for n in range(count):
            form_id = "contact" if n % 2 else "demo"
            email = _email("lead", n)
            submission = {
                "submission_id": f"sub-{n:06d}",
                "first_name": "Lead",
                "last_name": f"Person{n}",
                "email": email,
                "company": "ACME",
                "message": "Please call me",
                "budget": str(100 + n),
                "currency": "EGP",
            }
            self.sequences.append(
                [
                    Delivery(
                        f"lead-{n}",
                        f"/webhooks/forms/{form_id}",
                        _json(submission),
                        _form(form_id, f"msg_chaos_lead_{n:06d}"),
                    )
                ]
            )
            self.expected.deals[f"form:{form_id}:sub-{n:06d}"] = ExpectedDeal(
                f"{FORMS[form_id][0]}: Lead Person{n}", "new", Decimal(100 + n), "EGP", email
            )
            self.expected.contacts[email] = ExpectedContact("Lead", f"Person{n}")

    def woocommerce_orders(self, count: int) -> None:
        """order.created (pending), then order.updated: processing, then completed or
        cancelled; each a minute newer in `date_modified_gmt`."""
        for n in range(count):
            email = _email("woo", n)
            order_id = 9_000 + n
            total = Decimal(15_000 + 13 * n) / 100
            statuses = ["pending", "processing", "cancelled" if n % 5 == 0 else "completed"]
            deliveries = []
            for step, status in enumerate(statuses):
                order = {
                    "id": order_id,
                    "number": str(order_id),
                    "status": status,
                    "currency": "SAR",
                    "total": str(total),
                    "date_created_gmt": (T0 + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "date_modified_gmt": (T0 + timedelta(minutes=n + step)).strftime(
                        "%Y-%m-%dT%H:%M:%S"
                    ),
                    "billing": {"first_name": "نورة", "last_name": f"Woo{n}", "email": email},
                    "line_items": [
                        {"name": "Oud", "sku": "OUD-1", "quantity": 1, "total": str(total)}
                    ],
                }
                topic = "order.created" if step == 0 else "order.updated"
                deliveries.append(
                    Delivery(
                        f"woo-{n}-{step}",
                        f"/webhooks/woocommerce/{WOO_STORE}",
                        _json(order),
                        _woocommerce(topic, f"wc-chaos-{n}-{step}"),
                    )
                )
            self.sequences.append(deliveries)
            self.expected.deals[f"woocommerce:{WOO_STORE}:order:{order_id}"] = ExpectedDeal(
                f"Order #{order_id}", WOO_STAGES[statuses[-1]], total, "SAR", email
            )
            self.expected.contacts[email] = ExpectedContact()

    def salla_orders(self, count: int) -> None:
        """order.created (payment_pending), then order.status.updated: in_progress, then
        completed; the envelope's `created_at` a minute newer each time."""
        for n in range(count):
            email = _email("salla", n)
            order_id = 2_116_000_000 + n
            total = Decimal(20_150 + 10 * n) / 100
            deliveries = []
            for step, slug in enumerate(["payment_pending", "in_progress", "completed"]):
                order = {
                    "id": order_id,
                    "reference_id": 41_000_000 + n,
                    "status": {"name": slug, "slug": slug},
                    "payment_method": "mada",
                    "currency": "SAR",
                    "amounts": {"total": {"amount": float(total), "currency": "SAR"}},
                    "customer": {"first_name": "خالد", "last_name": f"Salla{n}", "email": email},
                }
                sent = (T0 + timedelta(minutes=n + step)).astimezone(timezone(timedelta(hours=3)))
                envelope = {
                    "event": "order.created" if step == 0 else "order.status.updated",
                    "merchant": SALLA_MERCHANT,
                    "created_at": sent.strftime(SALLA_TIME),
                    "data": order if step == 0 else {"order": order, "status": slug},
                }
                body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
                deliveries.append(Delivery(f"salla-{n}-{step}", "/webhooks/salla", body, _salla))
            self.sequences.append(deliveries)
            self.expected.deals[f"salla:{SALLA_MERCHANT}:order:{order_id}"] = ExpectedDeal(
                f"Salla order {41_000_000 + n}", "won", total, "SAR", email
            )
            self.expected.contacts[email] = ExpectedContact()

    def paymob_payments(self, count: int) -> None:
        """A kiosk payment: the transaction's callback while pending, then the same
        transaction (same id, same `created_at`) succeeded."""
        for n in range(count):
            email = _email("paymob", n)
            order_id = 217_000_000 + n
            cents = 50_000 + 100 * n
            deliveries = []
            for step, (pending, success) in enumerate([(True, False), (False, True)]):
                transaction = {
                    "id": 192_000_000 + n,
                    "pending": pending,
                    "success": success,
                    "amount_cents": cents,
                    "created_at": (T0 + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.%f"),
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
                        "id": order_id,
                        "amount_cents": cents,
                        "currency": "EGP",
                        "merchant_order_id": f"CH-{n}",
                        "shipping_data": {
                            "first_name": "أحمد",
                            "last_name": f"Paymob{n}",
                            "email": email,
                            "country": "EG",
                        },
                    },
                    "source_data": {"pan": "", "type": "aggregator", "sub_type": "AGGREGATOR"},
                    "data": {"message": "Approved" if success else "Pending"},
                }
                signature = paymob_hmac(transaction, PAYMOB_SECRET)
                deliveries.append(
                    Delivery(
                        f"paymob-{n}-{step}",
                        f"/webhooks/paymob/{PAYMOB_INTEGRATION}?hmac={signature}",
                        _json({"type": "TRANSACTION", "obj": transaction}),
                        _paymob,
                    )
                )
            self.sequences.append(deliveries)
            self.expected.deals[f"paymob:order:{order_id}"] = ExpectedDeal(
                f"Paymob order {order_id}", "won", Decimal(cents) / 100, "EGP", email
            )
            self.expected.contacts[email] = ExpectedContact()

    def interleaved(self) -> list[Delivery]:
        """Every entity's deliveries merged at random, each entity's own order kept."""
        queues = [list(sequence) for sequence in self.sequences]
        merged: list[Delivery] = []
        while queues:
            weights = [len(queue) for queue in queues]
            [queue] = self.rng.choices(queues, weights)
            merged.append(queue.pop(0))
            if not queue:
                queues.remove(queue)
        return merged


def build(total: int = 3000, redelivered: float = 0.2, seed: int = 1) -> Workload:
    """`total` posts, `redelivered` of them copies of earlier ones."""
    rng = random.Random(seed)
    builder = _Builder(rng)
    unique = total - int(total * redelivered)
    # shares of the unique deliveries; orders make ~2.8 deliveries each
    builder.orders(round(unique * 0.26 / 2.8))
    builder.customers(round(unique * 0.10))
    builder.checkouts(round(unique * 0.08))
    builder.payments(round(unique * 0.16 / 2))
    builder.stripe_customers(round(unique * 0.06))
    # the stores and the gateway: ~3, 3 and 2 deliveries each
    builder.woocommerce_orders(round(unique * 0.06 / 3))
    builder.salla_orders(round(unique * 0.06 / 3))
    builder.paymob_payments(round(unique * 0.04 / 2))
    made = sum(len(s) for s in builder.sequences)
    builder.leads(unique - made)
    firsts = builder.interleaved()

    waves = _waves(firsts, rng)
    copies = total - unique
    _redeliver(waves, copies, rng)
    return Workload(waves, builder.expected, unique, copies)


def _waves(deliveries: list[Delivery], rng: random.Random) -> list[list[Delivery]]:
    """Waves of 16 concurrent posts, with a burst of ~150 now and then."""
    waves: list[list[Delivery]] = []
    at = 0
    while at < len(deliveries):
        size = rng.randint(120, 180) if rng.random() < 0.08 else 16
        waves.append(deliveries[at : at + size])
        at += size
    return waves


def _redeliver(waves: list[list[Delivery]], copies: int, rng: random.Random) -> None:
    """Copies of deliveries already sent: a quarter in the same wave as the original
    (concurrent copies), the rest in a later wave (a provider's retry)."""
    placed = 0
    while placed < copies:
        at = rng.randrange(len(waves))
        original = rng.choice(waves[at])
        if rng.random() < 0.25:
            waves[at].append(original)
        else:
            waves[rng.randrange(at, len(waves))].append(original)
        placed += 1
