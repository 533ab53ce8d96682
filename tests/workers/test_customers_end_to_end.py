"""End to end for issue #13: real `adapter worker` processes, real Redis, the sandbox over
HTTP. Payloads are variants of the bundled samples (`adapter.samples`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from adapter import samples
from adapter.crm.models import ContactRecord, DealRecord
from adapter.webhook import WebhookDelivery
from tests.support.waiting import wait_until
from tests.workers.live import Crm, Sandbox, Workers, producer, worker_env
from workers.context import Context

pytestmark = pytest.mark.slow

SHOP = "kyoto-tea.myshopify.com"
CUSTOMER = "cus_Q7xLm2Vb9NcE4t"
# the wait for a customer event, short enough for a test, long enough to be needed
WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    server = Sandbox(tmp_path_factory.mktemp("sandbox"), rate_limit=120).start()
    yield server
    server.stop()


@pytest.fixture
def crm(sandbox_server: Sandbox) -> Iterator[Crm]:
    sandbox_server.reset()
    view = Crm(sandbox_server, sandbox_server.new_org()["api_key"])
    yield view
    view.close()


@pytest.fixture
def env(redis_url: str, crm: Crm) -> dict[str, str]:
    mapping = {"customers": {"customer_wait_seconds": WAIT_SECONDS}}
    return worker_env(redis_url, crm, MAPPING=json.dumps(mapping))


@pytest.fixture
def outbox(env: dict[str, str]) -> Iterator[Context]:
    with producer(env) as ctx:
        yield ctx


@pytest.fixture
def workers(tmp_path: Path, env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(tmp_path, env)
    pool.start()
    yield pool
    pool.stop()


class Sender:
    def __init__(self, ctx: Context) -> None:
        self.queue = Queue("deliveries", connection=ctx.rq_redis, serializer=JSONSerializer)
        self.sent = 0

    def send(self, source: str, topic: str, payload: dict[str, Any]) -> None:
        self.sent += 1
        delivery = WebhookDelivery(
            source=source,  # type: ignore[arg-type]
            topic=topic,
            delivery_id=f"e2e-{self.sent}",
            received_at=datetime.now(UTC),
            shop_domain=SHOP if source == "shopify" else None,
            payload=payload,
        )
        self.queue.enqueue("workers.jobs.process_delivery", delivery.model_dump(mode="json"))


@pytest.fixture
def sender(outbox: Context, workers: Workers) -> Sender:
    return Sender(outbox)


def stripe_event(topic: str, **fields: Any) -> dict[str, Any]:
    event = samples.load_sample("stripe", topic)
    event["id"] = f"evt_{topic}_{len(json.dumps(fields))}"
    event["data"]["object"].update(fields)
    return event


def nameless_customer() -> dict[str, Any]:
    """The sample customer with a name and a country, but no email or phone."""
    return stripe_event("customer.created", id=CUSTOMER, email=None, phone=None, name="Haruka Sato")


def invoice(topic: str) -> dict[str, Any]:
    return stripe_event(topic, customer=CUSTOMER, customer_email=None, id="in_Q7xLm2Vb9NcE4t")


def intent() -> dict[str, Any]:
    return stripe_event(
        "payment_intent.succeeded", id="pi_Q7xLm2Vb9NcE4t", customer=CUSTOMER, receipt_email=None
    )


def deals_of(crm: Crm, *external_ids: str) -> list[DealRecord]:
    by_id = crm.deals_by_external_id()
    return [deal for x in external_ids for deal in by_id.get(x, [])]


def the_customer(crm: Crm) -> ContactRecord:
    (contact,) = [
        c for c in crm.contacts() if (c.custom_fields or {}).get("stripe_customer_id") == CUSTOMER
    ]
    return contact


PAYMENTS = ("stripe:invoice:in_Q7xLm2Vb9NcE4t", "stripe:pi:pi_Q7xLm2Vb9NcE4t")


def all_settled(outbox: Context) -> bool:
    return outbox.outbox.size() == 0


def sent(outbox: Context, *external_ids: str) -> bool:
    """Every deal made and nothing left to send (polled in Redis: polling the CRM would
    spend the key's rate budget)."""
    return all(outbox.idmap.get(x).deal_id for x in external_ids) and all_settled(outbox)


def test_payments_of_a_customer_without_email_are_deals_on_that_customers_contact(
    crm: Crm, sender: Sender, outbox: Context
) -> None:
    sender.send("stripe", "customer.created", nameless_customer())
    wait_until(lambda: outbox.idmap.get(f"stripe:customer:{CUSTOMER}").contact_id, timeout=30)
    for topic in ("invoice.paid", "invoice.payment_succeeded"):
        sender.send("stripe", topic, invoice(topic))
    sender.send("stripe", "payment_intent.succeeded", intent())
    wait_until(lambda: sent(outbox, *PAYMENTS), timeout=60)
    contact = the_customer(crm)
    assert (contact.first_name, contact.last_name) == ("Haruka", "Sato")
    assert {d.contact_id for d in deals_of(crm, *PAYMENTS)} == {contact.id}
    assert len(crm.contacts()) == 1
    assert outbox.deadletters.count() == 0


def test_a_payment_before_its_customer_event_waits_for_it(
    crm: Crm, sender: Sender, outbox: Context
) -> None:
    sender.send("stripe", "invoice.paid", invoice("invoice.paid"))
    wait_until(lambda: outbox.outbox.size() > 0, timeout=30)
    sender.send("stripe", "customer.created", nameless_customer())
    wait_until(lambda: sent(outbox, PAYMENTS[0]), timeout=60)
    (deal,) = deals_of(crm, PAYMENTS[0])
    assert deal.contact_id == the_customer(crm).id
    assert "guest" not in (deal.tags or [])


def test_a_payment_whose_customer_never_shows_goes_to_the_guest_after_the_wait(
    crm: Crm, sender: Sender, outbox: Context
) -> None:
    sender.send("stripe", "invoice.paid", invoice("invoice.paid"))
    wait_until(lambda: sent(outbox, PAYMENTS[0]), timeout=WAIT_SECONDS + 60)
    (deal,) = deals_of(crm, PAYMENTS[0])
    (guest,) = crm.contacts()
    assert deal.contact_id == guest.id
    assert "guest" in (deal.tags or [])
    assert (guest.custom_fields or {})["external_id"] == "stripe:guest:platform"


def anonymous_order(order_id: int) -> dict[str, Any]:
    order = samples.load_sample("shopify", "orders/paid")
    order.update(id=order_id, name=f"#{order_id}", email=None, phone=None, customer=None)
    order.update(contact_email=None, billing_address=None, shipping_address=None)
    return order


def test_guest_orders_are_deals_on_the_shops_one_guest_contact(
    crm: Crm, sender: Sender, outbox: Context
) -> None:
    for order_id in (501, 502, 503):
        sender.send("shopify", "orders/paid", anonymous_order(order_id))
    external_ids = [f"shopify:{SHOP}:order:{n}" for n in (501, 502, 503)]
    wait_until(lambda: sent(outbox, *external_ids), timeout=60)
    (guest,) = crm.contacts()
    assert guest.first_name == "Guest customer"
    deals = deals_of(crm, *external_ids)
    assert {d.contact_id for d in deals} == {guest.id}
    assert all("guest" in (d.tags or []) for d in deals)
    assert outbox.deadletters.count() == 0


def test_a_repeat_buyer_with_a_new_email_is_one_contact_with_both(
    crm: Crm, sender: Sender, outbox: Context
) -> None:
    first = samples.load_sample("shopify", "orders/paid")
    first.update(id=601, name="#601", email="aiko.first@example.com", contact_email=None)
    sender.send("shopify", "orders/paid", first)
    wait_until(lambda: sent(outbox, f"shopify:{SHOP}:order:601"), timeout=30)
    second = samples.load_sample("shopify", "orders/paid")
    second.update(id=602, name="#602", email="aiko.new@example.com", contact_email=None)
    second["customer"]["email"] = None
    sender.send("shopify", "orders/paid", second)
    completion = f"shopify:{SHOP}:order:602:contact"
    wait_until(
        lambda: (
            sent(outbox, f"shopify:{SHOP}:order:602")
            and outbox.idmap.get(completion).applied_digest
        ),
        timeout=60,
    )
    (contact,) = crm.contacts()
    assert {"aiko.first@example.com", "aiko.new@example.com"} <= set(contact.emails or [])
    orders = deals_of(crm, f"shopify:{SHOP}:order:601", f"shopify:{SHOP}:order:602")
    assert {d.contact_id for d in orders} == {contact.id}
    assert outbox.deadletters.count() == 0
