"""Conformance: Shopify's published webhook payloads map as documented (CRM_ADAPTER_SHARED).

The same behaviours are tested on the repository's own payloads in test_shopify.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from adapter.crm.commands import (
    CreateLead,
    ForgetShop,
    RecordDataRequest,
    RedactContact,
    UpsertContact,
    UpsertDeal,
)
from tests.mapping.support import SHOP, mapped, primary, published, shopify

pytestmark = pytest.mark.conformance

ORDER_SAMPLE = "shopify/order_create_shopifydev_webhook_sample_2026-07.json"
ORDER_REST = "shopify/order_rest_2026-07_shopify-api-ruby.json"
CUSTOMER_SAMPLE = "shopify/customer_create_shopifydev_webhook_sample_2026-07.json"
CUSTOMER_REST = "shopify/customer_rest_2026-07_shopify-api-ruby.json"
CHECKOUT_SAMPLE = "shopify/checkout_update_shopifydev_webhook_sample_2026-07.json"
EST = timezone(timedelta(hours=-5))


def upsert_deal(topic: str, payload: dict[str, Any]) -> UpsertDeal:
    (command,) = primary(mapped(shopify(topic, payload)))
    assert isinstance(command, UpsertDeal)
    return command


def test_order_create_sample_becomes_a_cancelled_deal() -> None:
    command = upsert_deal("orders/create", published(ORDER_SAMPLE))
    deal = command.deal

    external_id = f"shopify:{SHOP}:order:820982911946154508"
    assert command.external_id == external_id
    assert command.source_updated_at == datetime(2021, 12, 31, 19, tzinfo=EST)
    assert deal.title == "Order #9999"
    assert deal.value == Decimal("404.95")
    assert deal.currency == "USD"
    assert deal.stage == "lost"  # cancelled_at is set in the sample
    assert deal.source == "shopify"
    assert deal.tags == ["tag1", "tag2", "shopify"]
    assert deal.contact_email == "jon@example.com"
    assert deal.contact_phone is None  # "555-555-SHIP" is no phone number
    assert (deal.contact_first_name, deal.contact_last_name) == ("John", "Smith")
    assert deal.create_contact_if_missing is True
    assert deal.custom_fields is not None
    assert deal.custom_fields["external_id"] == external_id
    assert {
        "shop_domain",
        "shopify_order_id",
        "order_name",
        "order_number",
        "financial_status",
        "payment_method",
        "payment_gateways",
        "shipping_city",
        "shipping_country",
        "presentment_currency",
        "presentment_total_price",
        "cancelled_at",
        "cancel_reason",
        "raw_phone",
    } <= set(deal.custom_fields)
    assert deal.custom_fields["payment_gateways"] == ["visa", "bogus"]
    assert deal.custom_fields["shipping_city"] == "Shippington"
    assert deal.custom_fields["shipping_country"] == "US"
    assert deal.products is not None
    assert len(deal.products) == 5
    first = deal.products[0]
    assert (first.name, first.sku, first.quantity, first.unit_price) == (
        "Aviator sunglasses",
        "SKU2006-001",
        Decimal(1),
        Decimal("89.99"),
    )


def test_order_rest_resource_becomes_a_won_deal_with_its_refunds() -> None:
    command = upsert_deal("orders/updated", published(ORDER_REST))
    deal = command.deal

    assert command.external_id == f"shopify:{SHOP}:order:450789469"
    assert command.source_updated_at == datetime(2008, 1, 10, 11, tzinfo=EST)
    assert deal.title == "Order #1001"
    assert deal.value == Decimal("598.94")
    assert deal.currency == "USD"
    assert deal.stage == "won"  # partially_refunded
    assert deal.tags == ["shopify"]
    assert deal.contact_email == "bob.norman@mail.example.com"
    assert deal.contact_phone == "+557734881234"
    assert (deal.contact_first_name, deal.contact_last_name) == ("Bob", "Norman")
    fields = deal.custom_fields or {}
    assert fields["external_id"] == command.external_id
    assert fields["refunded_amount"] == 209
    assert fields["discount_codes"] == ["TENOFF"]
    assert fields["note_attributes"] == {"custom engraving": "Happy Birthday", "colour": "green"}
    assert fields["payment_method"] == "bogus"
    assert fields["financial_status"] == "partially_refunded"
    assert "cancelled_at" not in fields
    assert [p.sku for p in deal.products or []] == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]


def test_customer_create_sample_becomes_a_contact() -> None:
    (command,) = primary(mapped(shopify("customers/create", published(CUSTOMER_SAMPLE))))
    assert isinstance(command, UpsertContact)
    contact = command.contact

    assert command.external_id == f"shopify:{SHOP}:customer:706405506930370084"
    assert command.source_updated_at == datetime(2021, 12, 31, 19, tzinfo=EST)
    assert (contact.first_name, contact.last_name) == ("Bob", "Biller")
    assert contact.emails == ["bob@biller.com"]
    assert contact.phones is None
    assert contact.source == "shopify"
    assert contact.tags == ["shopify"]
    assert contact.description == "This customer loves ice cream"
    assert contact.opt_in_status is None
    assert contact.custom_fields == {
        "external_id": command.external_id,
        "shop_domain": SHOP,
        "shopify_customer_id": "706405506930370084",
        "city": "Ottawa",
        "country": "CA",
        "currency": "USD",
        "raw_phone": "555-555-5555",
    }


def test_customer_rest_resource_keeps_non_ascii_tags_and_consent() -> None:
    (command,) = primary(mapped(shopify("customers/update", published(CUSTOMER_REST))))
    assert isinstance(command, UpsertContact)
    contact = command.contact

    assert command.external_id == f"shopify:{SHOP}:customer:207119551"
    assert contact.emails == ["bob.norman@mail.example.com"]
    assert contact.phones == ["+16136120707"]
    assert contact.tags == ["Léon", "Noël", "shopify"]
    assert contact.opt_in_status is False
    fields = contact.custom_fields or {}
    assert fields["orders_count"] == 1
    assert fields["total_spent"] == 199.65
    assert (fields["city"], fields["country"]) == ("Louisville", "US")


def test_checkout_sample_becomes_a_lead_with_its_recovery_url() -> None:
    (command,) = primary(mapped(shopify("checkouts/update", published(CHECKOUT_SAMPLE))))
    assert isinstance(command, CreateLead)
    contact, deal = command.lead.contact, command.lead.deal

    external_id = f"shopify:{SHOP}:checkout:123123123"
    assert command.external_id == external_id
    assert contact.emails == ["example@email.com"]  # the checkout's, not also the customer's
    assert (contact.first_name, contact.last_name) == ("John", "Smith")
    assert contact.opt_in_status is False
    assert deal.title == "Abandoned checkout 123123123"
    assert deal.value == Decimal("421.88")
    assert deal.currency == "USD"
    assert deal.stage == "new"
    assert deal.tags == ["shopify", "abandoned-checkout"]
    fields = deal.custom_fields or {}
    assert fields["external_id"] == external_id
    assert fields["recovery_url"].startswith("https://checkout.local/548380009/checkouts/123123123")
    assert fields["checkout_token"] == "123123123"
    assert len(deal.products or []) == 2


def test_customers_redact_sample_asks_to_redact_the_customer() -> None:
    payload = published("shopify/customers_redact_shopifydev_webhook_sample_2026-07.json")
    (command,) = primary(mapped(shopify("customers/redact", payload)))
    assert isinstance(command, RedactContact)
    assert command.external_id == f"shopify:{SHOP}:customer:191167"
    assert command.emails == ["john@example.com"]
    assert command.phones == []  # "555-625-1199" is not a valid number in the default region


def test_customers_data_request_sample_is_recorded() -> None:
    payload = published("shopify/customers_data_request_shopifydev_webhook_sample_2026-07.json")
    (command,) = primary(mapped(shopify("customers/data_request", payload)))
    assert isinstance(command, RecordDataRequest)
    assert command.external_id == f"shopify:{SHOP}:data_request:9999"
    assert command.shop_domain == SHOP
    assert command.orders_requested == ["299938", "280263", "220458"]


def test_shop_redact_sample_forgets_the_shop() -> None:
    payload = published("shopify/shop_redact_shopifydev_webhook_sample_2026-07.json")
    (command,) = primary(mapped(shopify("shop/redact", payload)))
    assert command == ForgetShop(external_id=f"shopify:{SHOP}:shop", shop_domain=SHOP)
