"""Conformance: Stripe's published events map as documented (CRM_ADAPTER_SHARED).

The same behaviours are tested on the repository's own events in test_stripe.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapter.crm.commands import UpdateDeal, UpsertContact, UpsertCustomerDeal, UpsertDeal
from tests.mapping.support import mapped, primary, published, stripe

pytestmark = pytest.mark.conformance

SESSION = "stripe/checkout.session.completed_stripe-ruby-mock.json"
REFUND = "stripe/charge.refunded_stripe-ruby-mock.json"
CUSTOMER = "stripe/customer.created_stripe-ruby-mock.json"
INVOICE = "stripe/invoice.paid_stripe-ruby-mock.json"
PI = "pi_000000000000000000000000"


def one(event: dict[str, Any]) -> Any:
    (command,) = primary(mapped(stripe(event)))
    return command


def test_checkout_session_completed_event_becomes_a_won_deal_keyed_on_its_intent() -> None:
    command = one(published(SESSION))
    assert isinstance(command, UpsertDeal)
    deal = command.deal

    assert command.external_id == f"stripe:pi:{PI}"
    assert command.source_updated_at == datetime.fromtimestamp(1648319959, tz=UTC)
    assert deal.title == f"Payment {PI}"
    assert deal.value == Decimal("30.00")
    assert deal.currency == "USD"
    assert deal.stage == "won"
    assert deal.contact_email == "stripe@example.com"
    assert deal.contact_phone is None
    assert deal.source == "stripe"
    assert deal.tags == ["stripe"]
    fields = deal.custom_fields or {}
    assert fields["external_id"] == command.external_id
    assert {
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "stripe_customer_id",
        "payment_status",
        "checkout_mode",
        "livemode",
    } <= set(fields)
    assert fields["stripe_customer_id"] == "cus_00000000000000"


def test_charge_refunded_event_without_a_payment_intent_has_no_deal() -> None:
    assert mapped(stripe(published(REFUND))) == []


def test_charge_refunded_event_with_its_intent_records_the_full_refund() -> None:
    event = published(REFUND)
    event["data"]["object"]["payment_intent"] = PI
    command = one(event)
    assert isinstance(command, UpdateDeal)
    fields = command.changes.custom_fields or {}
    assert (fields["refunded_amount"], fields["refund_status"]) == (1, "full")
    assert fields["stripe_charge_id"] == "ch_000000000000000000000000"


def test_customer_created_event_without_email_or_phone_still_becomes_a_contact() -> None:
    command = one(published(CUSTOMER))
    assert isinstance(command, UpsertContact)
    assert command.external_id == "stripe:customer:cus_00000000000000"
    assert (command.contact.custom_fields or {})["stripe_customer_id"] == "cus_00000000000000"


def test_customer_created_event_keeps_its_description() -> None:
    event = published(CUSTOMER)
    event["data"]["object"]["email"] = "someone@example.com"
    command = one(event)
    assert isinstance(command, UpsertContact)
    assert command.external_id == "stripe:customer:cus_00000000000000"
    assert command.contact.description == "(created by Stripe CLI)"


def test_invoice_paid_event_without_customer_email_goes_to_its_customers_contact() -> None:
    command = one(published(INVOICE))
    assert isinstance(command, UpsertCustomerDeal)
    assert command.customer.contact_external_id == "stripe:customer:cus_00000000000000"


def test_invoice_paid_event_with_customer_email_becomes_a_won_deal() -> None:
    event = published(INVOICE)
    event["data"]["object"]["customer_email"] = "payer@example.com"
    command = one(event)
    assert isinstance(command, UpsertDeal)
    deal = command.deal

    assert command.external_id == "stripe:invoice:in_000000000000000000000000"
    assert (deal.title, deal.value, deal.currency) == ("Invoice EE1DF78D-0001", Decimal(20), "USD")
    (line,) = deal.products or []
    assert (line.name, line.quantity, line.unit_price) == ("(created by Stripe CLI)", 1, 20)
    assert (deal.custom_fields or {})["stripe_payment_intent_id"] == PI
