from __future__ import annotations

import pytest

from adapter.crm.commands import AnyCommand, CreateLead, UpsertContact
from adapter.crm.models import Contact
from adapter.mapping import INVALID_RECORD, MappingConfig, MappingError, ignore_reason, map_delivery
from adapter.mapping import shopify as shopify_mapper
from tests.mapping.support import form, form_config, shopify, stripe, stripe_event


def test_handled_topics_are_not_ignored() -> None:
    config = MappingConfig()
    assert ignore_reason(shopify("orders/create", {}), config) is None
    assert ignore_reason(stripe(stripe_event("invoice.paid", {})), config) is None
    assert ignore_reason(form({}), config) is None


def test_unknown_shopify_topic_is_ignored_with_a_reason() -> None:
    reason = ignore_reason(shopify("products/create", {}), MappingConfig())
    assert reason == "Shopify topic 'products/create' is not handled (mapping.shopify_topics)"


def test_unknown_stripe_event_is_ignored_with_a_reason() -> None:
    reason = ignore_reason(stripe(stripe_event("payout.paid", {})), MappingConfig())
    assert reason == "Stripe event 'payout.paid' is not handled (mapping.stripe_events)"


def test_topics_left_out_of_the_config_are_ignored() -> None:
    config = MappingConfig(shopify_topics=["orders/create"])
    assert ignore_reason(shopify("customers/create", {}), config) is not None
    assert map_delivery(shopify("customers/create", {"id": 1, "email": "a@b.co"}), config) == []


def test_form_configs_reach_the_form_mapper() -> None:
    forms = {"contact": form_config(name="Contact us", tags=["inbound"])}
    (command,) = map_delivery(form({"email": "a@example.com"}), MappingConfig(), forms)
    assert isinstance(command, CreateLead)
    assert command.lead.deal.title == "Contact us: a@example.com"
    assert command.lead.deal.tags == ["inbound"]


def test_a_record_the_contract_refuses_is_a_mapping_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_ctx: object) -> list[AnyCommand]:
        contact = Contact.model_validate({"emails": ["NOT AN EMAIL"]})
        return [UpsertContact(external_id="x", contact=contact)]

    monkeypatch.setitem(shopify_mapper._HANDLERS, "orders/create", broken)
    with pytest.raises(MappingError) as caught:
        map_delivery(shopify("orders/create", {}), MappingConfig())
    assert caught.value.reason.startswith(INVALID_RECORD)
    assert "emails" in caught.value.reason
