from __future__ import annotations

from typing import Any

import pytest

from adapter.mapping import MappingConfig, MappingError, ignore_reason
from tests.mapping.stores import delivery, mapped, sample

MERCHANT = "1305146709"


def order_event(**changes: Any) -> dict[str, Any]:
    payload = sample("salla", "order.created")
    payload["data"].update(changes)
    return payload


def test_sample_order_is_a_deal_and_its_contact_completion_golden() -> None:
    assert mapped("salla", "order.created", order_event(), MERCHANT) == [
        {
            "external_id": "salla:1305146709:order:2116149737",
            "source_updated_at": "2026-11-28T13:21:48+03:00",
            "kind": "upsert_deal",
            "deal": {
                "value": 201.5,
                "currency": "SAR",
                "stage": "qualified",
                "source": "salla",
                "tags": ["salla"],
                "custom_fields": {
                    "external_id": "salla:1305146709:order:2116149737",
                    "salla_merchant": "1305146709",
                    "salla_order_id": "2116149737",
                    "reference_id": "41027662",
                    "order_status": "under_review",
                    "order_status_name": "بإنتظار المراجعة",
                    "payment_method": "mada",
                    "salla_customer_id": "225167971",
                    "city": "الرياض",
                    "country": "السعودية",
                },
                "products": [
                    {"name": "بخور معطر فاخر", "sku": "BKH-01", "quantity": 2, "unit_price": 93}
                ],
                "title": "Salla order 41027662",
                "contact_email": "khalid.otaibi@example.com",
                "contact_phone": "+966501234567",
                "contact_first_name": "خالد",
                "contact_last_name": "العتيبي",
                "create_contact_if_missing": True,
            },
        },
        {
            "external_id": "salla:1305146709:order:2116149737:contact",
            "source_updated_at": "2026-11-28T13:21:48+03:00",
            "kind": "complete_contact",
            "deal_external_id": "salla:1305146709:order:2116149737",
            "emails": ["khalid.otaibi@example.com"],
            "phones": ["+966501234567"],
            "first_name": "خالد",
            "last_name": "العتيبي",
        },
    ]


@pytest.mark.parametrize(
    ("slug", "stage"),
    [
        ("payment_pending", "new"),
        ("under_review", "qualified"),
        ("in_progress", "qualified"),
        ("completed", "won"),
        ("shipped", "won"),
        ("delivering", "won"),
        ("delivered", "won"),
        ("canceled", "lost"),
        ("restored", "lost"),
        ("restoring", None),
    ],
)
def test_status_slug_sets_the_stage(slug: str, stage: str | None) -> None:
    payload = order_event(status={"slug": slug, "name": "x"})
    command, *_ = mapped("salla", "order.updated", payload, MERCHANT)
    assert command["deal"].get("stage") == stage


def test_status_update_nests_the_order_and_keys_the_same_deal() -> None:
    order = sample("salla", "order.created")["data"]
    order["status"] = {"slug": "completed", "name": "تم التنفيذ"}
    payload = {
        "event": "order.status.updated",
        "merchant": 1305146709,
        "created_at": "Sat Nov 28 2026 15:00:00 GMT+0300",
        "data": {"id": 77, "order_id": order["id"], "order": order, "status": "تم التنفيذ"},
    }
    command, *_ = mapped("salla", "order.status.updated", payload, MERCHANT)
    assert command["external_id"] == "salla:1305146709:order:2116149737"
    assert command["deal"]["stage"] == "won"
    assert command["source_updated_at"] == "2026-11-28T15:00:00+03:00"


@pytest.mark.parametrize(
    ("mobile", "code", "phone"),
    [
        (501234567, "+966", "+966501234567"),
        ("0501234567", "+966", "+966501234567"),
        ("01012345678", "+20", "+201012345678"),
        ("1012345678", "20", "+201012345678"),
        ("+966501234567", "+966", "+966501234567"),
        ("0501234567", None, "+966501234567"),
    ],
)
def test_mobile_code_and_mobile_make_one_e164_number(
    mobile: Any, code: str | None, phone: str
) -> None:
    customer = {"id": 1, "first_name": "خالد", "mobile": mobile, "mobile_code": code}
    payload = {"event": "customer.created", "merchant": 1, "data": customer}
    config = MappingConfig(default_phone_region="SA")
    command, *_ = mapped("salla", "customer.created", payload, "1", config)
    assert command["contact"]["phones"] == [phone]


def test_legacy_plain_number_amounts_are_read() -> None:
    payload = order_event(amounts={"total": 99.5}, currency="SAR")
    command, *_ = mapped("salla", "order.created", payload, MERCHANT)
    assert (command["deal"]["value"], command["deal"]["currency"]) == (99.5, "SAR")


def test_sample_customer_is_an_egyptian_contact() -> None:
    command, *_ = mapped("salla", "customer.created", sample("salla", "customer.created"), MERCHANT)
    assert command["kind"] == "upsert_contact"
    assert command["external_id"] == "salla:1305146709:customer:225167972"
    contact = command["contact"]
    assert (contact["first_name"], contact["last_name"]) == ("منى", "عبد الرحمن")
    assert contact["phones"] == ["+201012345678"]


def test_sample_abandoned_cart_is_a_lead_golden() -> None:
    payload = sample("salla", "abandoned.cart")
    command, *_ = mapped("salla", "abandoned.cart", payload, MERCHANT)
    assert command == {
        "external_id": "salla:1305146709:cart:1097962121",
        "source_updated_at": "2026-11-28T18:00:32+03:00",
        "kind": "create_lead",
        "lead": {
            "contact": {
                "first_name": "سارة",
                "last_name": "الدوسري",
                "phones": ["+966551234567"],
                "emails": ["sara.dosari@example.com"],
                "source": "salla",
                "tags": ["salla", "abandoned-cart"],
            },
            "deal": {
                "value": 350,
                "currency": "SAR",
                "stage": "new",
                "source": "salla",
                "tags": ["salla", "abandoned-cart"],
                "custom_fields": {
                    "external_id": "salla:1305146709:cart:1097962121",
                    "salla_merchant": "1305146709",
                    "salla_cart_id": "1097962121",
                    "checkout_url": "https://salla.sa/riyadh-oud/checkout/1097962121",
                    "coupon_code": "RAMADAN10",
                    "age_in_minutes": 83,
                },
                "title": "Abandoned cart 1097962121",
            },
        },
    }


def test_cart_without_contact_details_maps_to_nothing() -> None:
    payload = sample("salla", "abandoned.cart")
    payload["data"]["customer"] = {"name": "زائر"}
    assert mapped("salla", "abandoned.cart", payload, MERCHANT) == []


def test_signed_unreadable_body_is_a_mapping_error_to_dead_letter() -> None:
    with pytest.raises(MappingError, match="not a JSON object"):
        mapped("salla", "order.created", {"unreadable_body": "x"}, MERCHANT)


@pytest.mark.parametrize("event", ["app.installed", "product.updated", "order.deleted", ""])
def test_other_events_are_ignored(event: str) -> None:
    assert ignore_reason(delivery("salla", event, {}, MERCHANT), MappingConfig())
