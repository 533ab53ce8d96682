"""WooCommerce, Salla and Paymob sales that name no person, and customers without contact
data: the same rules as Shopify's (see test_customers.py), as variants of our samples."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.mapping import MappingConfig, MappingError
from tests.mapping.stores import mapped, sample
from tests.mapping.test_paymob import INTEGRATION
from tests.mapping.test_salla import MERCHANT
from tests.mapping.test_woocommerce import STORE

NO_GUEST_SALES = MappingConfig.model_validate({"customers": {"guest_sales": False}})
WAITING = MappingConfig.model_validate({"customers": {"customer_wait_seconds": 5}})


def woocommerce_order(customer_id: int) -> dict[str, Any]:
    payload = sample("woocommerce", "order.created")
    payload.update(billing={"first_name": "نورة", "country": "SA"}, shipping={})
    payload["customer_id"] = customer_id
    return payload


def salla_order(customer: dict[str, Any]) -> dict[str, Any]:
    payload = sample("salla", "order.created")
    payload["data"].update(customer=customer, shipping={})
    return payload


def paymob_transaction() -> dict[str, Any]:
    payload = sample("paymob", "TRANSACTION")
    payload["obj"]["order"]["shipping_data"] = {"email": "NA", "phone_number": "NA"}
    payload["obj"]["payment_key_claims"] = {"billing_data": {"email": "NA", "first_name": "NA"}}
    return payload


# (source, topic, payload, scope, deal external id) of a sale naming no person
GUEST_SALES = [
    pytest.param(
        "woocommerce",
        "order.created",
        woocommerce_order(0),
        STORE,
        f"woocommerce:{STORE}:guest",
        id="woocommerce-guest-checkout",
    ),
    pytest.param(
        "salla",
        "order.created",
        salla_order({"first_name": "خالد"}),
        MERCHANT,
        f"salla:{MERCHANT}:guest",
        id="salla-no-customer-id",
    ),
    pytest.param(
        "paymob",
        "TRANSACTION",
        paymob_transaction(),
        INTEGRATION,
        f"paymob:{INTEGRATION}:guest",
        id="paymob-placeholders-only",
    ),
]


@pytest.mark.parametrize(("source", "topic", "payload", "scope", "guest"), GUEST_SALES)
def test_sale_without_email_phone_or_customer_goes_to_the_guest_contact(
    source: Any, topic: str, payload: dict[str, Any], scope: str, guest: str
) -> None:
    [command] = mapped(source, topic, payload, scope, WAITING)
    assert command["kind"] == "upsert_customer_deal"
    assert "contact_email" not in command["deal"]
    assert command["customer"]["guest_external_id"] == guest
    assert command["customer"]["guest_tags"] == ["guest"]
    assert "contact_external_id" not in command["customer"]
    assert command["customer"]["wait_seconds"] == 0.0


@pytest.mark.parametrize(("source", "topic", "payload", "scope", "guest"), GUEST_SALES)
def test_sale_without_any_person_is_refused_when_guest_sales_are_off(
    source: Any, topic: str, payload: dict[str, Any], scope: str, guest: str
) -> None:
    with pytest.raises(MappingError, match="guest_sales"):
        mapped(source, topic, payload, scope, NO_GUEST_SALES)


def test_woocommerce_order_without_email_goes_to_its_customers_contact() -> None:
    [command] = mapped("woocommerce", "order.updated", woocommerce_order(118), STORE, WAITING)
    assert command["kind"] == "upsert_customer_deal"
    assert command["customer"]["contact_external_id"] == f"woocommerce:{STORE}:customer:118"
    assert command["customer"]["search_field"] == "woocommerce_customer_id"
    assert command["customer"]["search_value"] == "118"
    assert command["customer"]["wait_seconds"] == 5
    assert command["customer"]["guest_external_id"] == f"woocommerce:{STORE}:guest"


def test_salla_order_without_email_or_mobile_goes_to_its_customers_contact() -> None:
    payload = salla_order({"id": 225167972, "first_name": "خالد", "mobile": "", "email": "x"})
    [command] = mapped("salla", "order.created", payload, MERCHANT, WAITING)
    assert command["kind"] == "upsert_customer_deal"
    assert command["customer"]["contact_external_id"] == f"salla:{MERCHANT}:customer:225167972"
    assert command["customer"]["search_field"] == "salla_customer_id"
    assert command["customer"]["search_value"] == "225167972"
    assert command["customer"]["wait_seconds"] == 5


def test_customers_deal_keeps_the_orders_fields() -> None:
    [command] = mapped("woocommerce", "order.created", woocommerce_order(118), STORE)
    fields = command["deal"]["custom_fields"]
    assert fields["woocommerce_order_id"] == "4750"
    assert fields["woocommerce_customer_id"] == "118"
    assert command["deal"]["value"] == 485


def test_woocommerce_guest_checkout_records_no_customer_id() -> None:
    [command] = mapped("woocommerce", "order.created", woocommerce_order(0), STORE)
    assert "woocommerce_customer_id" not in command["deal"]["custom_fields"]


def test_cancelled_order_without_a_person_still_reaches_the_crm() -> None:
    payload = woocommerce_order(0)
    payload["status"] = "cancelled"
    [command] = mapped("woocommerce", "order.updated", payload, STORE)
    assert command["kind"] == "upsert_customer_deal"
    assert command["deal"]["stage"] == "lost"


def test_declined_paymob_transaction_without_a_payer_reaches_the_guest_deal() -> None:
    payload = paymob_transaction()
    payload["obj"]["success"] = False
    [command] = mapped("paymob", "TRANSACTION", payload, INTEGRATION)
    assert command["kind"] == "upsert_customer_deal"
    assert command["deal"]["custom_fields"]["payment_outcome"] == "declined"


def test_woocommerce_customer_without_email_or_phone_is_a_contact() -> None:
    payload = {"id": 5, "first_name": "عمر", "last_name": "السيد", "billing": {"country": "EG"}}
    [command] = mapped("woocommerce", "customer.created", payload, STORE)
    assert command == {
        "external_id": f"woocommerce:{STORE}:customer:5",
        "kind": "upsert_contact",
        "contact": {
            "first_name": "عمر",
            "last_name": "السيد",
            "source": "woocommerce",
            "tags": ["woocommerce"],
            "custom_fields": {
                "external_id": f"woocommerce:{STORE}:customer:5",
                "woocommerce_store": STORE,
                "woocommerce_customer_id": "5",
                "country": "EG",
            },
        },
    }


def test_salla_customer_without_email_or_mobile_is_a_contact() -> None:
    payload = sample("salla", "customer.created")
    payload["data"].update(email=None, mobile=None)
    [command] = mapped("salla", "customer.created", payload, MERCHANT)
    assert command["kind"] == "upsert_contact"
    assert command["external_id"] == f"salla:{MERCHANT}:customer:225167972"
    contact = command["contact"]
    assert (contact["first_name"], contact["last_name"]) == ("منى", "عبد الرحمن")
    assert "emails" not in contact
    assert "phones" not in contact
    assert contact["custom_fields"]["salla_customer_id"] == "225167972"
    assert contact["custom_fields"]["country"] == "مصر"


def test_order_with_a_single_email_and_no_name_sends_no_completion() -> None:
    payload = sample("woocommerce", "order.created")
    payload.update(billing={"email": "noura@example.com"}, shipping={})
    [command] = mapped("woocommerce", "order.created", payload, STORE)
    assert command["kind"] == "upsert_deal"


def test_salla_order_completion_carries_the_receivers_phone_too() -> None:
    payload = sample("salla", "order.created")
    payload["data"]["shipping"] = {"receiver": {"phone": "+966551112233", "name": "سارة"}}
    deal, completion = mapped("salla", "order.created", payload, MERCHANT)
    assert completion["kind"] == "complete_contact"
    assert completion["deal_external_id"] == deal["external_id"]
    assert "+966551112233" in completion["phones"]
