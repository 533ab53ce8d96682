from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapter.crm.commands import UpdateDeal, UpsertContact, UpsertCustomerDeal, UpsertDeal
from adapter.mapping import MappingConfig, MappingError, ignore_reason
from adapter.mapping.config import StripeMapping
from tests.mapping.support import fixture, mapped, primary, stripe, stripe_event

SESSION = "stripe/checkout.session.completed.json"
REFUND = "stripe/charge.refunded.json"
CUSTOMER = "stripe/customer.created.json"
INVOICE = "stripe/invoice.paid.json"
PI = "pi_3Qintent000000001"


def session(**fields: Any) -> dict[str, Any]:
    return {
        "id": "cs_1",
        "object": "checkout.session",
        "amount_total": 11523,
        "currency": "sar",
        "payment_intent": "pi_1",
        "payment_status": "paid",
        "customer_details": {"email": "Buyer@Example.com", "name": "Mahmoud Ali"},
        **fields,
    }


def intent(**fields: Any) -> dict[str, Any]:
    return {"id": "pi_1", "object": "payment_intent", "amount": 11523, "currency": "sar", **fields}


def charge(**fields: Any) -> dict[str, Any]:
    return {
        "id": "ch_1",
        "object": "charge",
        "amount": 10000,
        "amount_refunded": 2500,
        "refunded": False,
        "currency": "usd",
        "payment_intent": "pi_1",
        "billing_details": {"email": None, "phone": None, "name": None},
        **fields,
    }


def invoice(**fields: Any) -> dict[str, Any]:
    return {
        "id": "in_1",
        "object": "invoice",
        "number": "ABC-0001",
        "amount_paid": 2000,
        "amount_due": 2000,
        "currency": "usd",
        "customer_email": "payer@example.com",
        "lines": {"data": [{"description": "Plan", "quantity": 2, "amount": 2000}]},
        **fields,
    }


def one(event: dict[str, Any], config: MappingConfig | None = None) -> Any:
    (command,) = primary(mapped(stripe(event), config))
    return command


# --- golden: the repository's events (tests/fixtures/stripe) ------------------
# The providers' published events are checked the same way in test_published_stripe.py.


def test_checkout_session_completed_event_becomes_a_won_deal_keyed_on_its_intent() -> None:
    command = one(fixture(SESSION))
    assert isinstance(command, UpsertDeal)
    deal = command.deal

    assert command.external_id == f"stripe:pi:{PI}"
    assert command.source_updated_at == datetime.fromtimestamp(1772000000, tz=UTC)
    assert deal.title == f"Payment {PI}"
    assert (deal.value, deal.currency, deal.stage) == (Decimal("45.00"), "USD", "won")
    assert deal.contact_email == "maya@example.com"
    assert deal.contact_phone is None
    assert (deal.contact_first_name, deal.contact_last_name) == ("Maya", "Lin")
    assert (deal.source, deal.tags) == ("stripe", ["stripe"])
    fields = deal.custom_fields or {}
    assert fields["external_id"] == command.external_id
    assert fields["stripe_checkout_session_id"] == "cs_test_a1b2c3d4"
    assert fields["stripe_payment_intent_id"] == PI
    assert fields["stripe_customer_id"] == "cus_Qcustomer0001"
    assert (fields["payment_status"], fields["checkout_mode"]) == ("paid", "payment")
    assert fields["livemode"] is False


def test_charge_refunded_event_without_a_payment_intent_has_no_deal() -> None:
    assert mapped(stripe(fixture(REFUND))) == []


def test_charge_refunded_event_with_its_intent_marks_the_deal_lost() -> None:
    event = fixture(REFUND)
    event["data"]["object"]["payment_intent"] = PI
    command = one(event)
    assert isinstance(command, UpdateDeal)  # the event carries no email or phone
    assert command.external_id == f"stripe:pi:{PI}"
    assert command.changes.stage == "lost"
    fields = command.changes.custom_fields or {}
    assert fields["external_id"] == command.external_id
    assert fields["refunded_amount"] == 45
    assert fields["refund_status"] == "full"
    assert fields["stripe_charge_id"] == "ch_3Qcharge000000001"


def test_customer_created_event_without_email_or_phone_still_becomes_a_contact() -> None:
    command = one(fixture(CUSTOMER))
    assert isinstance(command, UpsertContact)
    assert command.contact.emails is None
    assert command.contact.phones is None
    assert command.external_id == command.contact.custom_fields["external_id"]
    customer_id = command.external_id.removeprefix("stripe:customer:")
    assert command.contact.custom_fields["stripe_customer_id"] == customer_id


def test_customer_created_event_with_details_becomes_a_contact() -> None:
    event = fixture(CUSTOMER)
    event["data"]["object"].update(
        email="Mahmoud@Example.com",
        name="Mahmoud Abdel Rahman",
        phone="0501234567",
        address={"country": "SA", "city": "Riyadh"},
        metadata={"Plan Tier": "gold", "external_id": "theirs"},
    )
    command = one(event)
    assert isinstance(command, UpsertContact)
    contact = command.contact

    assert command.external_id == "stripe:customer:cus_Qcustomer0002"
    assert (contact.first_name, contact.last_name) == ("Mahmoud", "Abdel Rahman")
    assert contact.emails == ["mahmoud@example.com"]
    assert contact.phones == ["+966501234567"]
    assert contact.description == "Signed up at the spring fair"
    fields = contact.custom_fields or {}
    assert fields["external_id"] == command.external_id  # metadata never overrides it
    assert fields["plan_tier"] == "gold"
    assert fields["city"] == "Riyadh"


def test_invoice_paid_event_without_customer_email_goes_to_its_customers_contact() -> None:
    command = one(fixture(INVOICE))
    assert isinstance(command, UpsertCustomerDeal)
    customer = command.customer
    assert customer.contact_external_id == "stripe:customer:cus_Qcustomer0001"
    assert (customer.search_field, customer.search_value) == (
        "stripe_customer_id",
        "cus_Qcustomer0001",
    )
    assert customer.wait_seconds == 300.0
    assert customer.guest_external_id == "stripe:guest:platform"


def test_invoice_paid_event_with_customer_email_becomes_a_won_deal() -> None:
    event = fixture(INVOICE)
    event["data"]["object"]["customer_email"] = "payer@example.com"
    command = one(event)
    assert isinstance(command, UpsertDeal)
    deal = command.deal

    assert command.external_id == "stripe:invoice:in_1Qinvoice0000001"
    assert deal.title == "Invoice MAYA-0007"
    assert (deal.value, deal.currency, deal.stage) == (Decimal("30.00"), "USD", "won")
    assert deal.contact_email == "payer@example.com"
    (line,) = deal.products or []
    # no unit price on the line: its amount over its quantity
    assert (line.name, line.quantity, line.unit_price) == (
        "Workshop seat",
        Decimal(3),
        Decimal("10.00"),
    )
    fields = deal.custom_fields or {}
    assert fields["invoice_number"] == "MAYA-0007"
    assert fields["stripe_payment_intent_id"] == "pi_3Qintent000000002"


# --- one sale, one deal ------------------------------------------------------


def test_session_and_its_payment_intent_converge_on_one_deal() -> None:
    from_session = one(stripe_event("checkout.session.completed", session()))
    from_intent = one(
        stripe_event("payment_intent.succeeded", intent(receipt_email="buyer@example.com"))
    )
    assert from_session.external_id == from_intent.external_id == "stripe:pi:pi_1"
    assert from_session.deal.title == from_intent.deal.title == "Payment pi_1"


def test_session_accepts_an_expanded_payment_intent() -> None:
    command = one(
        stripe_event("checkout.session.completed", session(payment_intent={"id": "pi_1"}))
    )
    assert command.external_id == "stripe:pi:pi_1"


def test_session_without_payment_intent_is_keyed_on_itself() -> None:
    command = one(
        stripe_event(
            "checkout.session.completed", session(payment_intent=None, mode="subscription")
        )
    )
    assert isinstance(command, UpsertDeal)
    assert command.external_id == "stripe:cs:cs_1"
    assert command.deal.title == "Checkout cs_1"


def test_failed_payment_intent_without_contact_or_customer_only_updates_the_deal() -> None:
    command = one(stripe_event("payment_intent.payment_failed", intent()))
    assert isinstance(command, UpdateDeal)
    assert command.external_id == "stripe:pi:pi_1"
    assert command.changes.stage == "lost"
    assert command.changes.value == Decimal("115.23")


def test_paid_intent_without_contact_or_customer_waits_then_goes_to_the_guest() -> None:
    command = one(stripe_event("payment_intent.succeeded", intent()))
    assert isinstance(command, UpsertCustomerDeal)
    assert command.external_id == "stripe:pi:pi_1"
    assert command.deal.stage == "won"
    assert command.customer.contact_external_id is None
    assert command.customer.wait_seconds == 300.0
    assert command.customer.guest_external_id == "stripe:guest:platform"


def test_payment_intent_finds_the_contact_in_its_charges() -> None:
    charges = {"data": [{"billing_details": {"email": "card@example.com", "name": "Sara Ali"}}]}
    command = one(stripe_event("payment_intent.succeeded", intent(charges=charges)))
    assert isinstance(command, UpsertDeal)
    assert command.deal.contact_email == "card@example.com"
    assert command.deal.contact_first_name == "Sara"


def test_payment_intent_of_an_invoice_is_left_to_the_invoice_events() -> None:
    event = stripe_event("payment_intent.succeeded", intent(invoice="in_1"))
    assert mapped(stripe(event)) == []


def test_session_without_contact_intent_or_customer_goes_to_the_guest_at_once() -> None:
    event = stripe_event(
        "checkout.session.completed", session(payment_intent=None, customer_details=None)
    )
    command = one(event)
    assert isinstance(command, UpsertCustomerDeal)
    assert command.customer.wait_seconds == 0.0
    assert command.customer.guest_external_id == "stripe:guest:platform"


def test_session_without_contact_is_a_mapping_error_when_guest_sales_are_off() -> None:
    event = stripe_event(
        "checkout.session.completed", session(payment_intent=None, customer_details=None)
    )
    config = MappingConfig.model_validate({"customers": {"guest_sales": False}})
    with pytest.raises(MappingError, match="no valid email or phone"):
        mapped(stripe(event), config)


# --- stages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "obj", "stage"),
    [
        ("checkout.session.completed", session(payment_status="paid"), "won"),
        ("checkout.session.completed", session(payment_status="unpaid"), "qualified"),
        ("checkout.session.completed", session(payment_status="no_payment_required"), "won"),
        ("checkout.session.completed", session(payment_status="something_new"), None),
        ("checkout.session.async_payment_succeeded", session(payment_status="paid"), "won"),
        ("checkout.session.async_payment_failed", session(payment_status="unpaid"), "lost"),
        ("payment_intent.succeeded", intent(receipt_email="a@example.com"), "won"),
        ("payment_intent.payment_failed", intent(receipt_email="a@example.com"), "lost"),
        ("charge.refunded", charge(refunded=True, amount_refunded=10000), "lost"),
        ("charge.refunded", charge(refunded=None, amount_refunded=10000), "lost"),
        ("charge.refunded", charge(), "won"),
        ("invoice.paid", invoice(), "won"),
        ("invoice.payment_failed", invoice(), "qualified"),
    ],
)
def test_stage_of_each_event(event_type: str, obj: dict[str, Any], stage: str | None) -> None:
    command = one(stripe_event(event_type, obj))
    deal = command.deal if isinstance(command, UpsertDeal) else command.changes
    assert deal.stage == stage


def test_event_stages_are_configurable() -> None:
    config = MappingConfig(
        stripe=StripeMapping(
            event_stages={"invoice.payment_failed": "lost"}, partial_refund_stage="proposal"
        )
    )
    failed = one(stripe_event("invoice.payment_failed", invoice()), config)
    assert failed.deal.stage == "lost"
    partial = one(stripe_event("charge.refunded", charge()), config)
    assert partial.changes.stage == "proposal"


def test_partial_refund_records_the_refunded_amount() -> None:
    command = one(stripe_event("charge.refunded", charge()))
    fields = command.changes.custom_fields
    assert (fields["refunded_amount"], fields["refund_status"]) == (25, "partial")


def test_refund_with_an_email_upserts_the_deal() -> None:
    billing = {"email": "card@example.com", "address": {"country": "EG"}, "phone": "01017177777"}
    command = one(stripe_event("charge.refunded", charge(billing_details=billing)))
    assert isinstance(command, UpsertDeal)
    assert command.deal.title == "Payment pi_1"
    assert command.deal.contact_phone == "+201017177777"


def test_invoice_payment_failed_is_recorded() -> None:
    command = one(stripe_event("invoice.payment_failed", invoice(attempt_count=2)))
    fields = command.deal.custom_fields
    assert (fields["payment_failed"], fields["attempt_count"]) == (True, 2)


def test_zero_amount_invoice_is_skipped_unless_configured() -> None:
    event = stripe_event("invoice.paid", invoice(amount_paid=0))
    assert mapped(stripe(event)) == []
    config = MappingConfig(stripe=StripeMapping(skip_zero_amount_invoices=False))
    assert one(event, config).deal.value == 0


def test_invoice_without_number_is_titled_by_its_id() -> None:
    assert one(stripe_event("invoice.paid", invoice(number=None))).deal.title == "Invoice in_1"


# --- money ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "minor", "major"),
    [
        ("usd", 1999, "19.99"),
        ("jpy", 5000, "5000"),
        ("krw", 10000, "10000"),
        ("kwd", 5120, "5.120"),
        ("bhd", 1005, "1.005"),
        ("isk", 500, "5.00"),  # two-decimal in Stripe's API, zero in ISO 4217
        ("ugx", 500, "5.00"),  # likewise
        ("sar", 11523, "115.23"),
        ("egp", 12345, "123.45"),
        ("USD", 100, "1.00"),
    ],
)
def test_amounts_are_converted_by_stripes_exponent(currency: str, minor: int, major: str) -> None:
    event = stripe_event(
        "checkout.session.completed", session(currency=currency, amount_total=minor)
    )
    deal = one(event).deal
    assert deal.value == Decimal(major)
    assert deal.currency == currency.upper()


@pytest.mark.parametrize("amount", [None, "12.5", -100, "lots", True])
def test_unusable_amount_leaves_the_value_out(amount: Any) -> None:
    event = stripe_event("checkout.session.completed", session(amount_total=amount))
    assert one(event).deal.value is None


# --- test mode -----------------------------------------------------------------


def test_test_mode_events_are_handled_by_default() -> None:
    event = fixture(SESSION)
    assert ignore_reason(stripe(event), MappingConfig()) is None


def test_test_mode_events_can_be_ignored() -> None:
    config = MappingConfig(stripe=StripeMapping(ignore_test_mode=True))
    reason = ignore_reason(stripe(fixture(SESSION)), config)
    assert reason is not None
    assert "test-mode" in reason
    assert mapped(stripe(fixture(SESSION)), config) == []


def test_live_events_are_not_ignored_in_test_mode_config() -> None:
    config = MappingConfig(stripe=StripeMapping(ignore_test_mode=True))
    assert ignore_reason(stripe(stripe_event("invoice.paid", invoice())), config) is None
