from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapter.crm.commands import CreateLead
from adapter.mapping import MappingConfig, MappingError
from adapter.mapping.config import FormsMapping
from adapter.mapping.forms import field_key, field_target_errors
from adapter.settings import FormConfig
from tests.mapping.support import RECEIVED, form, form_config, mapped


def lead(
    payload: dict[str, Any],
    config: FormConfig | None = None,
    mapping: MappingConfig | None = None,
    delivery_id: str = "msg_2c3d",
) -> CreateLead:
    forms = {"contact": config} if config else None
    (command,) = mapped(form(payload, delivery_id=delivery_id), mapping, forms)
    assert isinstance(command, CreateLead)
    return command


def test_common_field_names_need_no_config() -> None:
    command = lead(
        {
            "Full Name": "Mahmoud Abdel Rahman",
            "E-mail": "Mahmoud@Example.com",
            "Mobile": "010 1717 7777",
            "Company": "Acme",
            "Message": "Please call me",
            "utm_source": "google",
        }
    )
    contact, deal = command.lead.contact, command.lead.deal
    assert (contact.first_name, contact.last_name) == ("Mahmoud", "Abdel Rahman")
    assert contact.emails == ["mahmoud@example.com"]
    assert contact.phones == ["+201017177777"]
    assert deal.description == "Please call me"
    assert deal.stage == "new"
    assert deal.title == "Web form: Mahmoud Abdel Rahman"
    fields = deal.custom_fields or {}
    assert fields["utm_source"] == "google"
    assert fields["company"] == "Acme"
    assert fields["external_id"] == command.external_id


def test_configured_fields_map_to_their_targets() -> None:
    config = form_config(
        name="Quote request",
        fields={
            "your-email": "email",
            "given": "first_name",
            "family": "last_name",
            "budget_sar": "deal.value",
            "cur": "deal.currency",
            "plan": "custom.plan",
            "age": "contact.custom.age",
            "newsletter_ok": "opt_in",
            "spam_check": "ignore",
        },
        tags=["website", "quote"],
        source="landing-page",
        stage="Qualified",
    )
    command = lead(
        {
            "your-email": "noha@example.com",
            "given": "Noha",
            "family": "Saleh",
            "budget_sar": "1,200.50",
            "cur": "sar",
            "plan": "gold",
            "age": 31,
            "newsletter_ok": "yes",
            "spam_check": "42",
        },
        config,
    )
    contact, deal = command.lead.contact, command.lead.deal
    assert contact.emails == ["noha@example.com"]
    assert (contact.first_name, contact.last_name) == ("Noha", "Saleh")
    assert contact.opt_in_status is True
    assert contact.custom_fields == {"age": 31}
    assert contact.tags == deal.tags == ["website", "quote"]
    assert contact.source == deal.source == "landing-page"
    assert (deal.value, deal.currency) == (Decimal("1200.50"), "SAR")
    assert deal.stage == "qualified"
    assert deal.title == "Quote request: Noha Saleh"
    fields = deal.custom_fields or {}
    assert fields["plan"] == "gold"
    assert "spam_check" not in fields
    assert fields["form_name"] == "Quote request"


def test_field_names_match_case_space_and_punctuation_insensitively() -> None:
    config = form_config(fields={"Work Email": "email"})
    command = lead({"work_email": "x@example.com", "fields[phone]": "+966501234567"}, config)
    assert command.lead.contact.emails == ["x@example.com"]
    assert command.lead.contact.phones == ["+966501234567"]


def test_external_id_uses_the_payloads_submission_id() -> None:
    command = lead({"email": "a@example.com", "submission_id": "sub-77"})
    assert command.external_id == "form:contact:sub-77"
    assert (command.lead.deal.custom_fields or {})["external_id"] == "form:contact:sub-77"


def test_external_id_falls_back_to_the_delivery_id() -> None:
    command = lead({"email": "a@example.com"}, delivery_id="msg_abc")
    assert command.external_id == "form:contact:msg_abc"


def test_overlong_submission_id_is_hashed_into_the_external_id() -> None:
    command = lead({"email": "a@example.com", "id": "x" * 400})
    assert len(command.external_id) <= 255
    assert command.external_id.startswith("form:contact:")


def test_title_is_deterministic_per_submission() -> None:
    payload = {"name": "Sara", "email": "s@example.com", "id": "1"}
    assert lead(payload).lead.deal.title == lead(dict(payload)).lead.deal.title


def test_title_template_is_configurable() -> None:
    mapping = MappingConfig(forms=FormsMapping(title="{form_id} #{submission}"))
    command = lead({"email": "a@example.com", "id": "9"}, mapping=mapping)
    assert command.lead.deal.title == "contact #9"


def test_phone_region_comes_from_the_country_field() -> None:
    command = lead({"phone": "0501234567", "country": "sa", "email": "a@example.com"})
    assert command.lead.contact.phones == ["+966501234567"]


def test_phone_and_whatsapp_both_become_phones() -> None:
    command = lead({"phone": "+201017177777", "whatsapp": "+966501234567"})
    assert command.lead.contact.phones == ["+201017177777", "+966501234567"]


def test_unparseable_value_is_kept_raw() -> None:
    command = lead({"email": "a@example.com", "budget": "about a thousand"})
    assert command.lead.deal.value is None
    assert (command.lead.deal.custom_fields or {})["raw_value"] == "about a thousand"


def test_default_currency_comes_from_the_mapping_config() -> None:
    mapping = MappingConfig(forms=FormsMapping(currency="egp"))
    command = lead({"email": "a@example.com", "amount": "500"}, mapping=mapping)
    assert (command.lead.deal.value, command.lead.deal.currency) == (Decimal(500), "EGP")


def test_honeypot_field_is_not_recorded() -> None:
    config = form_config(honeypot_field="website")
    command = lead({"email": "a@example.com", "website": ""}, config)
    assert "website" not in (command.lead.deal.custom_fields or {})


def test_submission_time_comes_from_the_payload_or_the_delivery() -> None:
    stamped = lead({"email": "a@example.com", "submitted_at": "2026-11-27T08:00:00Z"})
    assert stamped.source_updated_at == datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert lead({"email": "a@example.com"}).source_updated_at == RECEIVED


def test_invalid_email_is_kept_raw_when_a_phone_identifies_the_lead() -> None:
    command = lead({"email": "ahmed@gmail", "phone": "+201017177777"})
    assert command.lead.contact.emails is None
    assert (command.lead.deal.custom_fields or {})["raw_email"] == "ahmed@gmail"


def test_submission_without_email_or_phone_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="no valid email or phone"):
        mapped(form({"name": "Anonymous", "message": "hi"}))


def test_stage_outside_the_pipeline_is_a_mapping_error() -> None:
    config = form_config(stage="negotiation")
    with pytest.raises(MappingError, match="not among the pipeline stages"):
        mapped(form({"email": "a@example.com"}), forms={"contact": config})


def test_unknown_target_is_a_mapping_error() -> None:
    config = form_config(fields={"email_field": "mail_to"})
    with pytest.raises(MappingError, match="unknown target"):
        mapped(form({"email_field": "a@example.com"}), forms={"contact": config})


def test_field_target_errors_lists_unknown_targets() -> None:
    errors = field_target_errors({"a": "email", "b": "custom.x", "c": "nonsense", "d": "custom."})
    assert errors == ["field 'c': unknown target 'nonsense'", "field 'd': unknown target 'custom.'"]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Email", "email"),
        (" E-mail Address ", "e_mail_address"),
        ("form_fields[phone]", "phone"),
        ("utm_Source", "utm_source"),
    ],
)
def test_field_key(name: str, key: str) -> None:
    assert field_key(name) == key
