from __future__ import annotations

from typing import Any

import pytest

from adapter.mapping import MappingConfig, ignore_reason
from tests.mapping.stores import delivery, mapped, sample

INTEGRATION = "4097558"


def callback(**changes: Any) -> dict[str, Any]:
    payload = sample("paymob", "TRANSACTION")
    payload["obj"].update(changes)
    return payload


def test_sample_paid_card_transaction_is_a_won_deal_and_its_contact_completion_golden() -> None:
    assert mapped("paymob", "TRANSACTION", callback(), INTEGRATION) == [
        {
            "external_id": "paymob:order:217503754",
            "source_updated_at": "2024-06-13T11:33:44.592345Z",
            "kind": "upsert_deal",
            "deal": {
                "value": 1000,
                "currency": "EGP",
                "stage": "won",
                "source": "paymob",
                "tags": ["paymob"],
                "custom_fields": {
                    "external_id": "paymob:order:217503754",
                    "paymob_order_id": "217503754",
                    "merchant_order_id": "WC-1042",
                    "paymob_transaction_id": "192036465",
                    "paymob_integration_id": "4097558",
                    "payment_outcome": "success",
                    "payment_method": "card",
                    "payment_method_detail": "MasterCard",
                    "gateway_message": "Approved",
                },
                "title": "Paymob order 217503754",
                "contact_email": "ahmed.mahmoud@example.com",
                "contact_phone": "+201012345678",
                "contact_first_name": "أحمد",
                "contact_last_name": "محمود",
                "create_contact_if_missing": True,
            },
        },
        {
            "external_id": "paymob:order:217503754:contact",
            "source_updated_at": "2024-06-13T11:33:44.592345Z",
            "kind": "complete_contact",
            "deal_external_id": "paymob:order:217503754",
            "emails": ["ahmed.mahmoud@example.com"],
            "phones": ["+201012345678"],
            "first_name": "أحمد",
            "last_name": "محمود",
        },
    ]


@pytest.mark.parametrize(
    ("changes", "outcome", "stage"),
    [
        ({}, "success", "won"),
        ({"success": False, "pending": True}, "pending", "qualified"),
        ({"success": False}, "declined", "lost"),
        ({"is_voided": True}, "voided", "lost"),
        ({"is_refunded": True, "refunded_amount_cents": 100000}, "refunded", "lost"),
        ({"is_refunded": True, "refunded_amount_cents": 25000}, "partially_refunded", "won"),
        ({"is_refund": True, "amount_cents": 100000}, "refunded", "lost"),
        ({"is_refund": True, "amount_cents": 40000}, "partially_refunded", "won"),
        ({"is_void": True}, "voided", "lost"),
        ({"is_refund": True, "success": False}, None, None),
    ],
)
def test_transaction_outcome_sets_the_stage(
    changes: dict[str, Any], outcome: str | None, stage: str | None
) -> None:
    command, *_ = mapped("paymob", "TRANSACTION", callback(**changes), INTEGRATION)
    assert command["deal"]["custom_fields"].get("payment_outcome") == outcome
    assert command["deal"].get("stage") == stage


def test_callbacks_of_one_transaction_order_pending_then_outcome_then_void() -> None:
    pending = callback(success=False, pending=True)
    voided = callback(is_voided=True)
    (first, *_), (then, *_), (last, *_) = (
        mapped("paymob", "TRANSACTION", c, INTEGRATION) for c in (pending, callback(), voided)
    )
    assert first["source_updated_at"] < then["source_updated_at"] < last["source_updated_at"]


def test_refund_transaction_keeps_the_orders_value() -> None:
    command, *_ = mapped(
        "paymob", "TRANSACTION", callback(is_refund=True, amount_cents=40000), INTEGRATION
    )
    assert command["deal"]["value"] == 1000
    assert command["deal"]["custom_fields"]["refunded_amount"] == 400


@pytest.mark.parametrize(
    ("currency", "cents", "value"),
    [("EGP", 100000, 1000), ("SAR", 20150, 201.5), ("AED", 999, 9.99),
     ("PKR", 500000, 5000), ("OMR", 12345, 12.345)],
)  # fmt: skip
def test_amount_cents_are_major_units_of_the_currency(
    currency: str, cents: int, value: float
) -> None:
    payload = callback(currency=currency)
    payload["obj"]["order"].update(currency=currency, amount_cents=cents)
    command, *_ = mapped("paymob", "TRANSACTION", payload, INTEGRATION)
    assert (command["deal"]["value"], command["deal"]["currency"]) == (value, currency)


def test_currency_exponent_can_be_overridden() -> None:
    payload = callback(currency="OMR")
    payload["obj"]["order"].update(currency="OMR", amount_cents=1250)
    config = MappingConfig(paymob={"currency_exponents": {"OMR": 2}})
    command, *_ = mapped("paymob", "TRANSACTION", payload, INTEGRATION, config)
    assert command["deal"]["value"] == 12.5


def test_billing_data_is_used_when_shipping_data_has_placeholders() -> None:
    payload = callback()
    payload["obj"]["order"]["shipping_data"] = {"email": "NA", "phone_number": "NA"}
    payload["obj"]["payment_key_claims"]["billing_data"].update(
        email="NA", phone_number="01012345678", first_name="NA"
    )
    command, *_ = mapped("paymob", "TRANSACTION", payload, INTEGRATION)
    deal = command["deal"]
    assert deal["contact_phone"] == "+201012345678"
    assert "contact_email" not in deal
    assert "raw_email" not in deal["custom_fields"]


def test_local_phone_is_read_in_the_currencys_country() -> None:
    payload = callback(currency="SAR")
    payload["obj"]["order"]["currency"] = "SAR"
    payload["obj"]["order"]["shipping_data"] = {"phone_number": "0501234567"}
    payload["obj"]["payment_key_claims"] = {}
    command, *_ = mapped("paymob", "TRANSACTION", payload, INTEGRATION)
    assert command["deal"]["contact_phone"] == "+966501234567"


def test_token_callback_is_ignored() -> None:
    assert ignore_reason(delivery("paymob", "TOKEN", {}, INTEGRATION), MappingConfig())
    assert mapped("paymob", "TOKEN", {"type": "TOKEN", "obj": {}}, INTEGRATION) == []
