from __future__ import annotations

from typing import Any

import pytest

from adapter.mapping import MappingConfig, MappingError, ignore_reason
from tests.mapping.stores import delivery, mapped, sample

STORE = "riyadh-oud"


def order(**changes: Any) -> dict[str, Any]:
    return {**sample("woocommerce", "order.created"), **changes}


def test_sample_order_is_a_deal_and_its_contact_completion_golden() -> None:
    assert mapped("woocommerce", "order.created", order(), STORE) == [
        {
            "external_id": "woocommerce:riyadh-oud:order:4750",
            "source_updated_at": "2026-11-28T10:06:40Z",
            "kind": "upsert_deal",
            "deal": {
                "value": 485,
                "currency": "SAR",
                "stage": "won",
                "source": "woocommerce",
                "tags": ["woocommerce"],
                "custom_fields": {
                    "external_id": "woocommerce:riyadh-oud:order:4750",
                    "woocommerce_store": "riyadh-oud",
                    "woocommerce_order_id": "4750",
                    "order_number": "4750",
                    "order_status": "processing",
                    "payment_method": "الدفع عند الاستلام",
                    "billing_city": "الرياض",
                    "billing_country": "SA",
                    "shipping_city": "الرياض",
                    "shipping_country": "SA",
                    "woocommerce_customer_id": "118",
                },
                "products": [
                    {
                        "name": "دهن عود كمبودي 12 مل",
                        "sku": "OUD-KH-12",
                        "quantity": 2,
                        "unit_price": 200,
                    },
                    {"name": "مبخرة نحاسية", "sku": "BKH-CU", "quantity": 1, "unit_price": 60},
                ],
                "title": "Order #4750",
                "contact_email": "noura.alqahtani@example.com",
                "contact_phone": "+966501234567",
                "contact_first_name": "نورة",
                "contact_last_name": "القحطاني",
                "create_contact_if_missing": True,
            },
        },
        {
            "external_id": "woocommerce:riyadh-oud:order:4750:contact",
            "source_updated_at": "2026-11-28T10:06:40Z",
            "kind": "complete_contact",
            "deal_external_id": "woocommerce:riyadh-oud:order:4750",
            "emails": ["noura.alqahtani@example.com"],
            "phones": ["+966501234567"],
            "first_name": "نورة",
            "last_name": "القحطاني",
        },
    ]


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("pending", "new"),
        ("on-hold", "qualified"),
        ("processing", "won"),
        ("completed", "won"),
        ("cancelled", "lost"),
        ("refunded", "lost"),
        ("failed", "lost"),
        ("checkout-draft", None),
        ("Completed", "won"),
    ],
)
def test_order_status_sets_the_stage(status: str, stage: str | None) -> None:
    command, *_ = mapped("woocommerce", "order.updated", order(status=status), STORE)
    assert command["deal"].get("stage") == stage


def test_status_stages_are_configurable() -> None:
    config = MappingConfig(woocommerce={"status_stages": {"processing": "proposal"}})
    command, *_ = mapped("woocommerce", "order.updated", order(), STORE, config)
    assert command["deal"]["stage"] == "proposal"


def test_local_phone_is_read_in_the_billing_country() -> None:
    payload = order()
    payload["billing"] = {**payload["billing"], "country": "EG", "phone": "01012345678"}
    command, *_ = mapped("woocommerce", "order.created", payload, STORE)
    assert command["deal"]["contact_phone"] == "+201012345678"


def test_store_country_reads_the_phone_when_billing_has_no_country() -> None:
    payload = order()
    payload["billing"] = {**payload["billing"], "country": "", "phone": "0501234567"}
    payload["shipping"] = {**payload["shipping"], "country": ""}
    config = MappingConfig(
        default_phone_region="EG", woocommerce={"store_countries": {STORE: "SA"}}
    )
    command, *_ = mapped("woocommerce", "order.created", payload, STORE, config)
    assert command["deal"]["contact_phone"] == "+966501234567"


def test_refunds_are_summed_as_positive_amounts() -> None:
    payload = order(status="refunded", refunds=[{"id": 1, "total": "-400.00"}, {"total": "-85"}])
    command, *_ = mapped("woocommerce", "order.updated", payload, STORE)
    assert command["deal"]["custom_fields"]["refunded_amount"] == 485


def test_signed_unreadable_body_is_a_mapping_error_to_dead_letter() -> None:
    with pytest.raises(MappingError, match="not a JSON object"):
        mapped("woocommerce", "order.created", {"unreadable_body": "<html>"}, STORE)


def test_sample_customer_is_one_contact_golden() -> None:
    payload = sample("woocommerce", "customer.created")
    assert mapped("woocommerce", "customer.created", payload, STORE) == [
        {
            "external_id": "woocommerce:riyadh-oud:customer:118",
            "source_updated_at": "2026-11-27T16:40:11Z",
            "kind": "upsert_contact",
            "contact": {
                "first_name": "عمر",
                "last_name": "السيد",
                "phones": ["+201012345678"],
                "emails": ["omar.elsayed@example.com"],
                "source": "woocommerce",
                "tags": ["woocommerce"],
                "custom_fields": {
                    "external_id": "woocommerce:riyadh-oud:customer:118",
                    "woocommerce_store": "riyadh-oud",
                    "woocommerce_customer_id": "118",
                    "username": "omar.elsayed",
                    "city": "القاهرة",
                    "country": "EG",
                },
            },
        }
    ]


@pytest.mark.parametrize("topic", ["product.updated", "order.deleted", "coupon.created", ""])
def test_other_topics_are_ignored(topic: str) -> None:
    assert ignore_reason(delivery("woocommerce", topic, {}, STORE), MappingConfig())
    assert mapped("woocommerce", topic, order(), STORE) == []
