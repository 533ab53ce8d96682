"""Sales that name no person, customers without contact data, one person across events:
golden cases built as variants of the published fixtures and our own samples."""

from __future__ import annotations

from typing import Any

import pytest

from adapter import samples
from adapter.crm.commands import (
    CompleteContact,
    RedactContact,
    UpsertContact,
    UpsertCustomerDeal,
    UpsertDeal,
)
from adapter.mapping import MappingConfig, MappingError
from adapter.mapping.config import SHOPIFY_TOPICS, STRIPE_EVENTS
from tests.mapping import stores
from tests.mapping.support import SHOP, fixture, form, mapped, shopify, stripe

ORDER = "shopify/orders_create.json"
INVOICE = "stripe/invoice.paid.json"
CUSTOMER = "stripe/customer.created.json"
SESSION = "stripe/checkout.session.completed.json"
REDACT = "shopify/customers_redact.json"


def anonymous_order() -> dict[str, Any]:
    """The published order as a POS sale: no email, no phone, no customer, in JPY."""
    order = fixture(ORDER)
    for key in ("email", "contact_email", "phone", "customer"):
        order[key] = None
    for key in ("billing_address", "shipping_address"):
        order[key] = None
    order.update(currency="JPY", total_price="4500")
    return order


def invoice_without_email(topic: str = "invoice.paid") -> dict[str, Any]:
    event = fixture(INVOICE)
    event["type"] = topic
    event["data"]["object"].update(customer_email=None, customer_phone=None, customer_name=None)
    return event


# --- no email ----------------------------------------------------------------


def test_order_without_email_phone_or_customer_goes_to_the_shops_guest_contact() -> None:
    (command,) = mapped(shopify("orders/paid", anonymous_order()))
    assert isinstance(command, UpsertCustomerDeal)
    assert command.deal.currency == "JPY"
    assert command.customer.contact_external_id is None
    assert command.customer.wait_seconds == 0.0
    assert command.customer.guest_external_id == f"shopify:{SHOP}:guest"
    assert command.customer.guest_tags == ["guest"]


def test_guest_contact_name_and_tags_come_from_the_settings() -> None:
    config = MappingConfig.model_validate(
        {"customers": {"guest_name": "Walk-in", "guest_tags": ["pos", "guest"]}}
    )
    (command,) = mapped(shopify("orders/paid", anonymous_order()), config)
    assert isinstance(command, UpsertCustomerDeal)
    assert command.customer.guest_name == "Walk-in"
    assert command.customer.guest_tags == ["pos", "guest"]


@pytest.mark.parametrize("topic", ["invoice.paid", "invoice.payment_failed"])
def test_invoice_without_email_is_linked_through_its_stripe_customer(topic: str) -> None:
    (command,) = mapped(stripe(invoice_without_email(topic)))
    assert isinstance(command, UpsertCustomerDeal)
    customer_id = command.deal.custom_fields["stripe_customer_id"]
    assert command.customer.contact_external_id == f"stripe:customer:{customer_id}"
    assert command.customer.search_field == "stripe_customer_id"
    assert command.customer.search_value == customer_id


def test_the_wait_for_the_customer_event_is_a_setting() -> None:
    config = MappingConfig.model_validate({"customers": {"customer_wait_seconds": 5}})
    (command,) = mapped(stripe(invoice_without_email()), config)
    assert isinstance(command, UpsertCustomerDeal)
    assert command.customer.wait_seconds == 5.0


def test_customer_without_guest_sales_dead_letters_after_the_wait() -> None:
    config = MappingConfig.model_validate({"customers": {"guest_sales": False}})
    (command,) = mapped(stripe(invoice_without_email()), config)
    assert isinstance(command, UpsertCustomerDeal)
    assert command.customer.guest_external_id is None


def test_anonymous_order_is_refused_when_guest_sales_are_off() -> None:
    config = MappingConfig.model_validate({"customers": {"guest_sales": False}})
    with pytest.raises(MappingError, match="guest_sales"):
        mapped(shopify("orders/paid", anonymous_order()), config)


# --- no customer object --------------------------------------------------------


def test_order_with_a_customer_but_no_contact_details_looks_for_that_customer() -> None:
    order = anonymous_order()
    order["customer"] = {"id": 115310627314723954, "first_name": "Aiko", "email": None}
    (command,) = mapped(shopify("orders/paid", order))
    assert isinstance(command, UpsertCustomerDeal)
    assert command.customer.contact_external_id == f"shopify:{SHOP}:customer:115310627314723954"
    assert command.customer.search_field == "shopify_customer_id"
    assert command.customer.wait_seconds > 0


def test_session_without_customer_or_details_goes_to_the_guest_after_its_intent() -> None:
    event = fixture(SESSION)
    session = event["data"]["object"]
    session.update(customer=None, customer_details=None, customer_email=None)
    (command,) = mapped(stripe(event))
    assert isinstance(command, UpsertCustomerDeal)
    assert command.external_id.startswith("stripe:pi:")
    assert command.customer.contact_external_id is None
    assert command.customer.guest_external_id == "stripe:guest:platform"


def test_connect_events_have_a_guest_per_account() -> None:
    event = invoice_without_email()
    event["account"] = "acct_1Nv0FGQ9RKHgCVdK"
    (command,) = mapped(stripe(event))
    assert isinstance(command, UpsertCustomerDeal)
    assert command.customer.guest_external_id == "stripe:guest:acct_1Nv0FGQ9RKHgCVdK"


# --- customer event after / before the payment ----------------------------------


def test_customer_event_without_contact_details_records_the_id_the_payment_waits_for() -> None:
    (payment,) = mapped(stripe(invoice_without_email()))
    customer_event = fixture(CUSTOMER)
    customer_event["data"]["object"].update(id=payment.deal.custom_fields["stripe_customer_id"])
    (contact,) = mapped(stripe(customer_event))
    assert isinstance(payment, UpsertCustomerDeal)
    assert isinstance(contact, UpsertContact)
    assert contact.external_id == payment.customer.contact_external_id
    assert contact.contact.custom_fields["stripe_customer_id"] == payment.customer.search_value


def test_customer_event_with_a_name_only_becomes_a_named_contact() -> None:
    event = fixture(CUSTOMER)
    event["data"]["object"].update(name="Kenji Watanabe", address={"country": "JP"})
    (command,) = mapped(stripe(event))
    assert isinstance(command, UpsertContact)
    assert (command.contact.first_name, command.contact.last_name) == ("Kenji", "Watanabe")
    assert command.contact.custom_fields["country"] == "JP"


def test_invoice_payment_succeeded_makes_the_same_deal_as_invoice_paid() -> None:
    (paid,) = mapped(stripe(invoice_without_email("invoice.paid")))
    (succeeded,) = mapped(stripe(invoice_without_email("invoice.payment_succeeded")))
    assert isinstance(paid, UpsertCustomerDeal)
    assert isinstance(succeeded, UpsertCustomerDeal)
    assert paid.external_id == succeeded.external_id
    assert paid.deal == succeeded.deal


# --- same person by phone with a new email ---------------------------------------


def test_order_completes_its_contact_with_every_email_phone_and_the_name() -> None:
    order = fixture(ORDER)
    order.update(email="new.address@example.com", contact_email=None, phone="+81 90-1234-5678")
    order["customer"].update(phone="+81 80-9876-5432", email="old.address@example.com")
    order["billing_address"]["phone"] = "090-1234-5678"
    order["billing_address"]["country_code"] = "JP"
    deal, completion = mapped(shopify("orders/create", order))
    assert isinstance(deal, UpsertDeal)
    assert isinstance(completion, CompleteContact)
    assert completion.deal_external_id == deal.external_id
    assert completion.emails == ["new.address@example.com", "old.address@example.com"]
    # the billing phone is the order's phone written locally: one number, not two
    assert completion.phones == ["+819012345678", "+818098765432"]
    assert completion.first_name == order["customer"]["first_name"]


def test_a_lone_email_needs_no_completion() -> None:
    order = anonymous_order()
    order["email"] = "only@example.com"
    assert [type(c) for c in mapped(shopify("orders/create", order))] == [UpsertDeal]


# --- redaction -------------------------------------------------------------------


def test_customers_redact_names_the_deals_of_its_orders_to_redact() -> None:
    payload = fixture(REDACT)
    (command,) = mapped(shopify("customers/redact", payload, shop=payload["shop_domain"]))
    assert isinstance(command, RedactContact)
    shop = payload["shop_domain"]
    assert command.deal_external_ids == [
        f"shopify:{shop}:order:{order}" for order in payload["orders_to_redact"]
    ]


# --- samples ---------------------------------------------------------------------


def test_there_is_a_sample_for_every_handled_topic_and_event() -> None:
    assert {t for s, t in samples.SAMPLES if s == "shopify"} == set(SHOPIFY_TOPICS)
    assert {t for s, t in samples.SAMPLES if s == "stripe"} == set(STRIPE_EVENTS)


# the store, merchant or integration each new source delivers from
STORE_SCOPES = {"woocommerce": "shop.example", "salla": "1234509876", "paymob": "4097558"}


@pytest.mark.parametrize(("source", "topic"), sorted(samples.SAMPLES))
def test_every_sample_maps_without_a_mapping_error(source: str, topic: str) -> None:
    payload = samples.load_sample(source, topic)
    if source == "shopify":
        delivery = shopify(topic, payload, shop=payload.get("shop_domain") or SHOP)
    elif source == "stripe":
        delivery = stripe(payload, topic)
    elif source == "form":
        delivery = form(payload)
    else:
        delivery = stores.delivery(source, topic, payload, STORE_SCOPES[source])
    mapped(delivery)
