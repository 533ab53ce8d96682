from __future__ import annotations

import pytest

from adapter import samples


@pytest.mark.parametrize(("source", "topic"), sorted(samples.SAMPLES))
def test_every_sample_loads_as_a_json_object(source: str, topic: str) -> None:
    assert isinstance(samples.load_sample(source, topic), dict)


def test_order_sample_is_a_saudi_order_paid_with_mada() -> None:
    order = samples.load_sample("shopify", "orders/create")
    assert order["currency"] == "SAR"
    assert order["payment_gateway_names"] == ["mada"]
    assert order["customer"]["phone"].startswith("+20")
    assert order["shipping_address"]["phone"].startswith("+966")


def test_order_sample_totals_add_up() -> None:
    order = samples.load_sample("shopify")
    items = sum(float(i["price"]) * i["quantity"] for i in order["line_items"])
    shipping = float(order["total_shipping_price_set"]["shop_money"]["amount"])
    assert items == float(order["subtotal_price"])
    assert items + shipping == float(order["total_price"])


def test_stripe_sample_is_a_completed_checkout_event() -> None:
    event = samples.load_sample("stripe")
    assert event["object"] == "event"
    assert event["type"] == "checkout.session.completed"
    assert event["data"]["object"]["payment_status"] == "paid"


def test_form_sample_has_contact_fields_and_an_empty_honeypot() -> None:
    form = samples.load_sample("form")
    assert form["email"]
    assert form["phone"]
    assert form["website"] == ""


def test_each_load_is_a_fresh_copy() -> None:
    samples.load_sample("stripe")["id"] = "changed"
    assert samples.load_sample("stripe")["id"] != "changed"


def test_unknown_topic_names_the_known_ones() -> None:
    with pytest.raises(samples.UnknownSample, match="orders/create"):
        samples.load_sample("shopify", "products/update")
