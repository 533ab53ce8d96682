from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from adapter.crm.commands import (
    CreateLead,
    ForgetShop,
    RecordDataRequest,
    RedactContact,
    UpdateDeal,
    UpsertContact,
    UpsertDeal,
)
from adapter.mapping import MappingConfig, MappingError
from adapter.mapping.config import ShopifyMapping
from tests.mapping.support import SHOP, fixture, mapped, primary, shopify

ORDER_CREATE = "shopify/orders_create.json"
ORDER_UPDATED = "shopify/orders_updated.json"
CUSTOMER_CREATE = "shopify/customers_create.json"
CUSTOMER_UPDATE = "shopify/customers_update.json"
CHECKOUT = "shopify/checkouts_update.json"
RIYADH = timezone(timedelta(hours=3))


def upsert_deal(topic: str, payload: dict[str, Any], **kwargs: Any) -> UpsertDeal:
    (command,) = primary(mapped(shopify(topic, payload), **kwargs))
    assert isinstance(command, UpsertDeal)
    return command


def order(**fields: Any) -> dict[str, Any]:
    """A small order of the shape Shopify sends."""
    return {
        "id": 5001,
        "name": "#1001",
        "order_number": 1001,
        "email": "Buyer@Example.com",
        "currency": "SAR",
        "total_price": "115.23",
        "financial_status": "paid",
        "updated_at": "2026-11-28T10:00:00+03:00",
        **fields,
    }


# --- golden: the repository's payloads (tests/fixtures/shopify) --------------
# The providers' published payloads are checked the same way in test_published_shopify.py.


def test_cancelled_order_becomes_a_lost_deal() -> None:
    command = upsert_deal("orders/create", fixture(ORDER_CREATE))
    deal = command.deal

    external_id = f"shopify:{SHOP}:order:7310001"
    assert command.external_id == external_id
    assert command.source_updated_at == datetime(2026, 3, 2, 9, 15, tzinfo=RIYADH)
    assert deal.title == "Order #2040"
    assert deal.value == Decimal("512.50")
    assert deal.currency == "SAR"
    assert deal.stage == "lost"  # cancelled_at is set
    assert deal.source == "shopify"
    assert deal.tags == ["gift", "repeat-buyer", "shopify"]
    assert deal.contact_email == "layla.haddad@example.com"
    assert deal.contact_phone is None  # "call the front desk" is no phone number
    assert (deal.contact_first_name, deal.contact_last_name) == ("Layla", "Haddad")
    assert deal.create_contact_if_missing is True
    fields = deal.custom_fields or {}
    assert fields["external_id"] == external_id
    assert fields["payment_method"] == "mada"
    assert fields["payment_gateways"] == ["mada", "manual"]
    assert (fields["shipping_city"], fields["shipping_country"]) == ("Jeddah", "SA")
    assert (fields["presentment_currency"], fields["presentment_total_price"]) == ("SAR", 512.5)
    assert (fields["cancelled_at"], fields["cancel_reason"]) == (
        "2026-03-02T09:15:00+03:00",
        "customer",
    )
    assert fields["raw_phone"] == "call the front desk"
    products = deal.products or []
    assert [(p.name, p.sku, p.quantity, p.unit_price) for p in products] == [
        ("Cardamom coffee - 500 g", "COF-500", Decimal(2), Decimal("120.00")),
        ("Dallah pot", "POT-01", Decimal(1), Decimal("250.00")),
        ("Gift wrap", None, Decimal(1), Decimal(0)),
    ]


def test_partly_refunded_order_is_a_won_deal_with_its_successful_refunds() -> None:
    command = upsert_deal("orders/updated", fixture(ORDER_UPDATED))
    deal = command.deal

    assert command.external_id == f"shopify:{SHOP}:order:7310002"
    assert command.source_updated_at == datetime(2026, 3, 7, 16, 30, tzinfo=RIYADH)
    assert (deal.title, deal.value, deal.currency) == ("Order #2041", Decimal(860), "SAR")
    assert deal.stage == "won"  # partially_refunded
    assert deal.tags == ["shopify"]
    assert deal.contact_email == "omar.saleh@example.net"
    assert deal.contact_phone == "+966551234567"
    fields = deal.custom_fields or {}
    assert fields["external_id"] == command.external_id
    assert fields["refunded_amount"] == 340  # the failed refund and the sale do not count
    assert fields["discount_codes"] == ["RAMADAN15"]
    assert fields["note_attributes"] == {"delivery window": "evening", "wrapping": "yes"}
    assert fields["financial_status"] == "partially_refunded"
    assert "cancelled_at" not in fields
    assert [p.sku for p in deal.products or []] == ["OUD-12", "BUR-02"]


def test_new_customer_becomes_a_contact_keeping_an_unusable_phone_aside() -> None:
    (command,) = mapped(shopify("customers/create", fixture(CUSTOMER_CREATE)))
    assert isinstance(command, UpsertContact)
    contact = command.contact

    assert command.external_id == f"shopify:{SHOP}:customer:6110003"
    assert command.source_updated_at == datetime(2026, 2, 10, 6, tzinfo=UTC)
    assert (contact.first_name, contact.last_name) == ("Nadia", "Karam")
    assert contact.emails == ["nadia@example.org"]
    assert contact.phones is None
    assert (contact.source, contact.tags) == ("shopify", ["shopify"])
    assert contact.description == "Prefers Arabic invoices"
    assert contact.opt_in_status is None
    assert contact.custom_fields == {
        "external_id": command.external_id,
        "shop_domain": SHOP,
        "shopify_customer_id": "6110003",
        "city": "Cairo",
        "country": "EG",
        "orders_count": 0,
        "total_spent": 0,
        "currency": "EGP",
        "raw_phone": "ask at reception",
    }


def test_updated_customer_keeps_non_ascii_tags_and_declined_consent() -> None:
    (command,) = mapped(shopify("customers/update", fixture(CUSTOMER_UPDATE)))
    assert isinstance(command, UpsertContact)
    contact = command.contact

    assert command.external_id == f"shopify:{SHOP}:customer:6110004"
    assert contact.first_name == "Zoë"
    assert contact.emails == ["zoe.brandt@example.com"]
    assert contact.phones == ["+4915123456789"]
    assert contact.tags == ["Straße", "Zoë", "vip", "shopify"]
    assert contact.opt_in_status is False
    fields = contact.custom_fields or {}
    assert (fields["orders_count"], fields["total_spent"]) == (3, 249.9)
    assert (fields["city"], fields["country"]) == ("Köln", "DE")


def test_abandoned_checkout_becomes_a_lead_with_its_recovery_url() -> None:
    (command,) = mapped(shopify("checkouts/update", fixture(CHECKOUT)))
    assert isinstance(command, CreateLead)
    contact, deal = command.lead.contact, command.lead.deal

    external_id = f"shopify:{SHOP}:checkout:c1a2b3d4e5f6"
    assert command.external_id == external_id
    assert contact.emails == ["visitor@example.com"]  # the checkout's, not also the account's
    assert (contact.first_name, contact.last_name) == ("Sami", "Aziz")
    assert contact.opt_in_status is False
    assert deal.title == "Abandoned checkout c1a2b3d4e5f6"
    assert (deal.value, deal.currency, deal.stage) == (Decimal(199), "SAR", "new")
    assert deal.tags == ["shopify", "abandoned-checkout"]
    fields = deal.custom_fields or {}
    assert fields["external_id"] == external_id
    assert fields["recovery_url"] == "https://shop.example/checkouts/c1a2b3d4e5f6/recover?key=abc123"
    assert fields["checkout_token"] == "c1a2b3d4e5f6"
    assert len(deal.products or []) == 2


def test_customers_redact_asks_to_redact_the_customer() -> None:
    (command,) = mapped(shopify("customers/redact", fixture("shopify/customers_redact.json")))
    assert isinstance(command, RedactContact)
    assert command.external_id == f"shopify:{SHOP}:customer:6110006"
    assert command.emails == ["leaving@example.com"]
    assert command.phones == []  # "not a number" is dropped


def test_customers_data_request_is_recorded() -> None:
    payload = fixture("shopify/customers_data_request.json")
    (command,) = mapped(shopify("customers/data_request", payload))
    assert isinstance(command, RecordDataRequest)
    assert command.external_id == f"shopify:{SHOP}:data_request:4321"
    assert command.shop_domain == SHOP
    assert command.orders_requested == ["7310020", "7310021"]


def test_shop_redact_forgets_the_shop() -> None:
    (command,) = mapped(shopify("shop/redact", fixture("shopify/shop_redact.json")))
    assert command == ForgetShop(external_id=f"shopify:{SHOP}:shop", shop_domain=SHOP)


# --- orders ----------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    ["orders/create", "orders/paid", "orders/updated", "orders/cancelled", "orders/fulfilled"],
)
def test_every_order_topic_upserts_the_same_deal(topic: str) -> None:
    command = upsert_deal(topic, order())
    assert command.external_id == f"shopify:{SHOP}:order:5001"
    assert command.deal.title == "Order #1001"
    assert command.deal.create_contact_if_missing is True


@pytest.mark.parametrize(
    ("financial_status", "cancelled_at", "stage"),
    [
        ("pending", None, "new"),
        ("authorized", None, "qualified"),
        ("partially_paid", None, "qualified"),
        ("paid", None, "won"),
        ("partially_refunded", None, "won"),
        ("refunded", None, "lost"),
        ("voided", None, "lost"),
        ("PAID", None, "won"),
        ("paid", "2026-11-28T11:00:00+03:00", "lost"),
        ("pending", "2026-11-28T11:00:00+03:00", "lost"),
        ("expired", None, None),
        (None, None, None),
    ],
)
def test_order_stage_follows_financial_status_and_cancellation(
    financial_status: str | None, cancelled_at: str | None, stage: str | None
) -> None:
    payload = order(financial_status=financial_status, cancelled_at=cancelled_at)
    assert upsert_deal("orders/updated", payload).deal.stage == stage


def test_order_stage_map_is_configurable() -> None:
    config = MappingConfig(
        shopify=ShopifyMapping(financial_status_stages={"paid": "proposal"}, cancelled_stage="new")
    )
    assert upsert_deal("orders/paid", order(), config=config).deal.stage == "proposal"
    refunded = order(financial_status="refunded")  # the defaults still hold for the rest
    assert upsert_deal("orders/updated", refunded, config=config).deal.stage == "lost"
    cancelled = order(cancelled_at="2026-11-28T11:00:00Z")
    assert upsert_deal("orders/cancelled", cancelled, config=config).deal.stage == "new"


def test_order_title_template_is_configurable() -> None:
    config = MappingConfig(shopify=ShopifyMapping(order_title="Shopify {shop} {order_number}"))
    deal = upsert_deal("orders/create", order(), config=config).deal
    assert deal.title == f"Shopify {SHOP} 1001"


def test_order_without_a_name_is_titled_by_its_number() -> None:
    payload = order()
    del payload["name"]
    assert upsert_deal("orders/create", payload).deal.title == "Order #1001"


def test_order_keeps_presentment_money_and_mada_gateway() -> None:
    payload = order(
        payment_gateway_names=["mada"],
        presentment_currency="USD",
        total_price_set={
            "shop_money": {"amount": "115.23", "currency_code": "SAR"},
            "presentment_money": {"amount": "30.72", "currency_code": "USD"},
        },
    )
    deal = upsert_deal("orders/paid", payload).deal
    assert (deal.value, deal.currency) == (Decimal("115.23"), "SAR")
    fields = deal.custom_fields or {}
    assert fields["payment_method"] == "mada"
    assert fields["presentment_currency"] == "USD"
    assert fields["presentment_total_price"] == 30.72


def test_order_takes_the_email_from_the_customer_when_the_order_has_none() -> None:
    payload = order(email=None, customer={"email": "NOHA@example.com", "first_name": "Noha"})
    deal = upsert_deal("orders/create", payload).deal
    assert deal.contact_email == "noha@example.com"
    assert deal.contact_first_name == "Noha"


def test_order_names_come_from_the_billing_address_without_a_customer() -> None:
    payload = order(billing_address={"first_name": "Sara", "last_name": "Hassan"})
    deal = upsert_deal("orders/create", payload).deal
    assert (deal.contact_first_name, deal.contact_last_name) == ("Sara", "Hassan")


def test_order_with_only_a_phone_links_the_contact_by_phone() -> None:
    payload = order(email=None, phone="0501234567", shipping_address={"country_code": "SA"})
    deal = upsert_deal("orders/create", payload).deal
    assert deal.contact_email is None
    assert deal.contact_phone == "+966501234567"


def test_order_with_an_invalid_email_keeps_it_raw() -> None:
    payload = order(email="not-an-email", phone="+201017177777")
    deal = upsert_deal("orders/create", payload).deal
    assert deal.contact_email is None
    assert (deal.custom_fields or {})["raw_email"] == "not-an-email"


def test_order_without_email_or_phone_is_a_mapping_error_when_guest_sales_are_off() -> None:
    config = MappingConfig.model_validate({"customers": {"guest_sales": False}})
    with pytest.raises(MappingError, match="no valid email or phone"):
        mapped(shopify("orders/create", order(email=None)), config)


def test_order_without_an_id_is_a_mapping_error() -> None:
    payload = order()
    del payload["id"]
    with pytest.raises(MappingError, match="no id"):
        mapped(shopify("orders/create", payload))


def test_order_tags_are_split_and_deduplicated() -> None:
    deal = upsert_deal("orders/create", order(tags="vip, wholesale,vip, ,shopify")).deal
    assert deal.tags == ["vip", "wholesale", "shopify"]


def test_shop_domain_falls_back_to_the_payload() -> None:
    delivery = shopify("orders/create", order(shop_domain="Other.myshopify.com"), shop=None)
    (command,) = primary(mapped(delivery))
    assert command.external_id == "shopify:other.myshopify.com:order:5001"


def test_delivery_without_any_shop_domain_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="shop domain"):
        mapped(shopify("orders/create", order(), shop=None))


# --- refunds ---------------------------------------------------------------


def refund(**fields: Any) -> dict[str, Any]:
    return {
        "id": 9001,
        "order_id": 5001,
        "created_at": "2026-11-28T12:00:00+03:00",
        "note": "damaged",
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "40.00", "currency": "SAR"},
            {"kind": "refund", "status": "failure", "amount": "75.23", "currency": "SAR"},
        ],
        "refund_line_items": [],
        **fields,
    }


def test_refund_updates_the_orders_deal_without_touching_its_stage() -> None:
    (command,) = mapped(shopify("refunds/create", refund()))
    assert isinstance(command, UpdateDeal)
    assert command.external_id == f"shopify:{SHOP}:order:5001"
    assert command.source_updated_at == datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert command.changes.stage is None
    fields = command.changes.custom_fields or {}
    assert fields["external_id"] == command.external_id
    assert fields["last_refund_amount"] == 40
    assert fields["last_refund_currency"] == "SAR"
    assert fields["last_refund_id"] == "9001"


def test_refund_without_order_id_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="order_id"):
        mapped(shopify("refunds/create", refund(order_id=None)))


# --- customers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ({"email_marketing_consent": {"state": "subscribed"}}, True),
        ({"sms_marketing_consent": {"state": "subscribed"}}, True),
        ({"email_marketing_consent": {"state": "unsubscribed"}}, False),
        ({"email_marketing_consent": {"state": "pending"}}, False),
        ({"accepts_marketing": True}, True),
        ({"accepts_marketing": False}, False),
        ({}, None),
    ],
)
def test_customer_opt_in_follows_marketing_consent(
    consent: dict[str, Any], expected: bool | None
) -> None:
    payload = {"id": 1, "email": "a@example.com", **consent}
    (command,) = mapped(shopify("customers/create", payload))
    assert isinstance(command, UpsertContact)
    assert command.contact.opt_in_status is expected


def test_customer_phone_is_read_in_its_address_country() -> None:
    payload = {"id": 1, "phone": "050 123 4567", "default_address": {"country_code": "SA"}}
    (command,) = mapped(shopify("customers/create", payload))
    assert isinstance(command, UpsertContact)
    assert command.contact.phones == ["+966501234567"]


def test_customer_without_email_or_phone_still_becomes_a_contact() -> None:
    payload = {"id": 1, "first_name": "Ghost", "default_address": {"country_code": "JP"}}
    (command,) = mapped(shopify("customers/update", payload))
    assert isinstance(command, UpsertContact)
    assert command.contact.first_name == "Ghost"
    assert command.contact.emails is None
    assert command.contact.phones is None
    assert command.contact.custom_fields == {
        "external_id": f"shopify:{SHOP}:customer:1",
        "shop_domain": SHOP,
        "shopify_customer_id": "1",
        "country": "JP",
    }


# --- checkouts -------------------------------------------------------------


def test_checkout_without_email_or_phone_is_skipped() -> None:
    payload = {"token": "abc", "email": None, "total_price": "10.00"}
    assert mapped(shopify("checkouts/create", payload)) == []


def test_completed_checkout_is_skipped() -> None:
    payload = fixture(CHECKOUT)
    payload["completed_at"] = "2026-03-10T20:30:00+03:00"
    assert mapped(shopify("checkouts/update", payload)) == []


def test_checkout_create_and_update_make_the_same_lead() -> None:
    payload = fixture(CHECKOUT)
    created = mapped(shopify("checkouts/create", payload))
    updated = mapped(shopify("checkouts/update", payload))
    assert created == updated


def test_checkout_without_token_is_a_mapping_error() -> None:
    payload = fixture(CHECKOUT)
    del payload["token"]
    with pytest.raises(MappingError, match="token"):
        mapped(shopify("checkouts/create", payload))


# --- privacy ---------------------------------------------------------------


def test_customers_redact_normalises_what_to_look_for() -> None:
    payload = {"customer": {"id": 7, "email": " John@Example.COM ", "phone": "01017177777"}}
    (command,) = mapped(shopify("customers/redact", payload))
    assert isinstance(command, RedactContact)
    assert command.emails == ["john@example.com"]
    assert command.phones == ["+201017177777"]


def test_customers_redact_without_customer_id_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="customer id"):
        mapped(shopify("customers/redact", {"customer": {"email": "a@example.com"}}))
