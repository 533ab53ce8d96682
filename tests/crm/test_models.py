"""The contract against crm-api.md: its examples parse, its rules refuse, money is exact."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from adapter.crm.models import (
    BulkContactsRequest,
    BulkContactsResponse,
    BulkDeal,
    BulkDealsRequest,
    BulkDealsResponse,
    BulkLeadsRequest,
    BulkLeadsResponse,
    Contact,
    ContactRecord,
    ContactUpdate,
    Deal,
    DealUpdate,
    ErrorBody,
    Lead,
    LeadResult,
    PostgrestError,
    Product,
    SearchContactsRequest,
    custom_fields_size,
    decimal_text,
    dumps,
)

CONTACT_ID = "f2b4f7ab-7033-47ce-be06-b30a47de020a"

# --- request bodies, as printed in crm-api.md ------------------------------

DOC_2_1_1_CREATE_CONTACT = """{
 "first_name": "Mahmoud",
 "last_name": "Ali",
 "phones": ["+201017177777"],
 "emails": ["mahmoud@example.com"],
 "source": "website",
 "tags": ["vip", "newsletter"],
 "custom_fields": {
 "customer_type": "VIP",
 "last_order_value": 1200
 }
 }"""

DOC_2_1_3_UPDATE_CONTACT = """{
 "first_name": "Mahmoud Updated",
 "tags": ["vip", "premium"],
 "custom_fields": { "customer_type": "Platinum", "last_order_value": 2400 }
 }"""

DOC_2_1_3_UPDATE_BY_PHONE = """{"first_name":"Mahmoud Updated"}"""

DOC_2_1_4_BULK_CONTACTS = """{
 "contacts": [
 {
 "first_name": "Ahmed",
 "phones": ["+201111111111"],
 "emails": ["ahmed@example.com"],
 "tags": ["import-2026-04"],
 "custom_fields": { "city": "Cairo" }
 },
 {
 "first_name": "Sara",
 "phones": ["+201222222222"],
 "source": "csv-import"
 }
 ],
 "skip_duplicates": false,
 "default_tags": ["batch-2026-04"],
 "default_source": "csv-import"
 }"""

DOC_3_1_1_CREATE_DEAL = """{
 "title": "Order #68297792",
 "value": 11523,
 "currency": "SAR",
 "stage": "qualified",
 "contact_id": "f2b4f7ab-7033-47ce-be06-b30a47de020a",
 "source": "shopify",
 "expected_close_date": "2026-05-15",
 "probability": 60,
 "tags": ["online-order"],
 "custom_fields": {
 "shopify_order_id": "68297792",
 "payment_method": "mada"
 }
 }"""

DOC_3_1_2_BULK_DEALS = """{
 "default_currency": "SAR",
 "default_stage": "qualified",
 "skip_if_exists": true,
 "deals": [
 {
 "title": "Order #68297792",
 "value": 11523,
 "contact_phone": "+201017177777",
 "contact_first_name": "Mahmoud",
 "create_contact_if_missing": true,
 "custom_fields": { "order_id": "68297792" }
 },
 {
 "title": "Order #68297793",
 "value": 540,
 "contact_email": "noha@example.com",
 "contact_first_name": "Noha",
 "create_contact_if_missing": true
 }
 ]
 }"""

DOC_3_1_4_MARK_WON = """{ "stage": "won", "probability": 100 }"""

DOC_3_1_4_FIX_CASING = """{ "stage": "qualified" }"""

# The document elides the contact id here ("f2b4f7ab-..."); the full one of §2.1.1 is used.
DOC_4_CUSTOM_FIELDS_EXAMPLE = """{
 "title": "Order #68297792",
 "value": 11523,
 "contact_id": "f2b4f7ab-7033-47ce-be06-b30a47de020a",
 "custom_fields": {
 "shopify_order_id": "68297792",
 "payment_method": "mada",
 "is_gift": true,
 "delivered_at": "2026-04-25",
 "shipping_address": { "city": "Riyadh", "zip": "12345" }
 }
}"""

DOC_7_1_CREATE_CONTACT = """{
 "first_name": "Mahmoud", "last_name": "Ali",
 "phones": ["+201017177777"],
 "emails": ["mahmoud@example.com"],
 "source": "website",
 "custom_fields": { "signup_campaign": "spring2026" }
 }"""

DOC_7_2_MERGED_CUSTOM_FIELDS = (
    """{ "custom_fields": { "signup_campaign":"spring2026", "last_login":"2026-04-23" } }"""
)

DOC_7_3_CREATE_DEAL = """{
 "title": "Order #68297792",
 "value": 11523, "currency": "SAR",
 "stage": "qualified",
 "contact_id": "f2b4f7ab-7033-47ce-be06-b30a47de020a",
 "source": "shopify",
 "custom_fields": { "shopify_order_id": "68297792" }
 }"""

DOC_7_4_BULK_DEALS = """{
 "default_currency": "SAR",
 "default_stage": "qualified",
 "skip_if_exists": true,
 "deals": [
 {
 "title": "Order #68297792", "value": 11523,
 "contact_phone": "+201017177777",
 "contact_first_name": "Mahmoud",
 "create_contact_if_missing": true,
 "custom_fields": { "external_id": "68297792" }
 },
 {
 "title": "Order #68297793", "value": 540,
 "contact_email": "noha@example.com",
 "contact_first_name": "Noha",
 "create_contact_if_missing": true,
 "custom_fields": { "external_id": "68297793" }
 }
 ]
 }"""

DOC_7_5_MARK_WON = """{ "stage": "won", "probability": 100 }"""

# Undocumented endpoints, in the shape the sandbox implements.
CREATE_LEAD = """{
 "contact": {"first_name": "Noha", "emails": ["noha@example.com"], "phones": ["+201017177777"]},
 "deal": {"title": "Checkout abandoned", "value": 540, "currency": "EGP", "stage": "new"}
}"""

CREATE_LEADS_BULK = """{
 "leads": [
  {"contact": {"first_name": "Noha", "emails": ["noha@example.com"]},
   "deal": {"title": "Form: contact us"}}
 ],
 "default_stage": "new",
 "default_currency": "EGP"
}"""

SEARCH_CONTACTS = """{"query": "mahmoud", "limit": 20}"""

REQUEST_EXAMPLES: list[tuple[str, type[BaseModel], str]] = [
    ("2.1.1 create contact", Contact, DOC_2_1_1_CREATE_CONTACT),
    ("2.1.3 update contact", ContactUpdate, DOC_2_1_3_UPDATE_CONTACT),
    ("2.1.3 update by phone", ContactUpdate, DOC_2_1_3_UPDATE_BY_PHONE),
    ("2.1.4 bulk contacts", BulkContactsRequest, DOC_2_1_4_BULK_CONTACTS),
    ("3.1.1 create deal", Deal, DOC_3_1_1_CREATE_DEAL),
    ("3.1.2 bulk deals", BulkDealsRequest, DOC_3_1_2_BULK_DEALS),
    ("3.1.4 mark won", DealUpdate, DOC_3_1_4_MARK_WON),
    ("3.1.4 fix casing", DealUpdate, DOC_3_1_4_FIX_CASING),
    ("4 custom fields", Deal, DOC_4_CUSTOM_FIELDS_EXAMPLE),
    ("7.1 create contact", Contact, DOC_7_1_CREATE_CONTACT),
    ("7.2 merge custom fields", ContactUpdate, DOC_7_2_MERGED_CUSTOM_FIELDS),
    ("7.3 create deal", Deal, DOC_7_3_CREATE_DEAL),
    ("7.4 bulk deals", BulkDealsRequest, DOC_7_4_BULK_DEALS),
    ("7.5 mark won", DealUpdate, DOC_7_5_MARK_WON),
    ("create-lead", Lead, CREATE_LEAD),
    ("create-leads-bulk", BulkLeadsRequest, CREATE_LEADS_BULK),
    ("search-contacts", SearchContactsRequest, SEARCH_CONTACTS),
]

# --- response bodies, as printed in crm-api.md -----------------------------

DOC_2_1_1_RESPONSE = """[{
 "id": "f2b4f7ab-7033-47ce-be06-b30a47de020a",
 "first_name": "Mahmoud",
 "last_name": "Ali",
 "phones": ["+201017177777"],
 "emails": ["mahmoud@example.com"],
 "tags": ["vip", "newsletter"],
 "source": "website",
 "custom_fields": { "customer_type": "VIP", "last_order_value": 1200 },
 "created_at": "2026-04-23T10:12:34.567Z"
}]"""

DOC_2_1_4_RESPONSE = """{
 "success": true,
 "summary": { "total": 2, "successful": 2, "failed": 0, "new_contacts": 1, "updated_contacts": 1 },
 "results": [
 { "index": 0, "success": true, "contact_id": "...", "is_new": false },
 { "index": 1, "success": true, "contact_id": "...", "is_new": true }
 ]
}"""

DOC_3_1_2_RESPONSE = """{
 "success": true,
 "summary": {
 "total": 2,
 "successful": 2,
 "failed": 0,
 "new_deals": 2,
 "skipped_existing": 0,
 "new_contacts_created": 1
 },
 "results": [
 { "index": 0, "success": true, "deal_id": "...", "contact_id": "f2b4f7ab-...", "is_new_contact": false },
 { "index": 1, "success": true, "deal_id": "...", "contact_id": "...", "is_new_contact": true }
 ]
}"""  # noqa: E501  (verbatim from the document)

CREATE_LEAD_RESPONSE = """{"success": true, "contact_id": "c1", "deal_id": "d1"}"""

CREATE_LEADS_BULK_RESPONSE = """{
 "success": true,
 "summary": {"total": 1, "successful": 1, "failed": 0},
 "results": [{"index": 0, "success": true, "contact_id": "c1", "deal_id": "d1"}]
}"""

DOC_8_ERRORS = [
    """{"error":"title is required"}""",
    """{"error":"Maximum batch size is 100 deals"}""",
    """{"error":"No pipeline found..."}""",
    """{"error":"Unauthorized"}""",
    """{"error":"duplicate key..."}""",
    """{"error":"rate limit"}""",
    """{"error":"Internal server error","details":"..."}""",
]


def _parse(model: type[BaseModel], text: str) -> BaseModel:
    return model.model_validate(json.loads(text))


def _locs(error: ValidationError) -> list[tuple[str | int, ...]]:
    return [tuple(e["loc"]) for e in error.errors()]


@pytest.mark.parametrize(
    ("model", "text"),
    [pytest.param(model, text, id=name) for name, model, text in REQUEST_EXAMPLES],
)
def test_document_request_body_parses(model: type[BaseModel], text: str) -> None:
    _parse(model, text)


@pytest.mark.parametrize(
    ("model", "text"),
    [pytest.param(model, text, id=name) for name, model, text in REQUEST_EXAMPLES],
)
def test_document_request_body_is_sent_back_unchanged(model: type[BaseModel], text: str) -> None:
    body = _parse(model, text)
    sent = json.loads(dumps(body))
    expected = json.loads(text)
    # Defaults the document leaves out (skip flags) are sent explicitly.
    assert {key: value for key, value in sent.items() if key in expected} == expected


def test_document_contact_list_response_parses() -> None:
    records = [ContactRecord.model_validate(r) for r in json.loads(DOC_2_1_1_RESPONSE)]
    assert records[0].id == CONTACT_ID
    assert records[0].custom_fields == {"customer_type": "VIP", "last_order_value": 1200}


def test_empty_search_answer_is_no_contacts() -> None:
    assert [ContactRecord.model_validate(r) for r in json.loads("[]")] == []


def test_document_bulk_contacts_response_parses() -> None:
    response = BulkContactsResponse.model_validate_json(DOC_2_1_4_RESPONSE)
    assert response.summary.new_contacts == 1
    assert [r.is_new for r in response.results] == [False, True]


def test_document_bulk_deals_response_parses() -> None:
    response = BulkDealsResponse.model_validate_json(DOC_3_1_2_RESPONSE)
    assert response.summary.new_contacts_created == 1
    assert response.results[1].is_new_contact is True


def test_lead_responses_parse() -> None:
    assert LeadResult.model_validate_json(CREATE_LEAD_RESPONSE).deal_id == "d1"
    assert BulkLeadsResponse.model_validate_json(CREATE_LEADS_BULK_RESPONSE).summary.total == 1


@pytest.mark.parametrize("text", DOC_8_ERRORS)
def test_document_error_body_parses(text: str) -> None:
    assert ErrorBody.model_validate_json(text).error


def test_error_details_may_be_any_json() -> None:
    body = ErrorBody.model_validate_json('{"error": "x", "details": {"code": "23505"}}')
    assert body.details == {"code": "23505"}


def test_postgrest_error_parses() -> None:
    text = '{"code":"23505","details":null,"hint":null,"message":"duplicate key value"}'
    assert PostgrestError.model_validate_json(text).code == "23505"


def test_response_keeps_fields_it_does_not_know() -> None:
    record = ContactRecord.model_validate({"id": "x", "company_id": "c"})
    assert record.model_extra == {"company_id": "c"}


# --- refusals (§2.2, §3.2, §4, §5) -----------------------------------------


def _deal(**fields: Any) -> dict[str, Any]:
    return {"title": "Order #1", "contact_id": CONTACT_ID, **fields}


def _bulk_row(**fields: Any) -> dict[str, Any]:
    return {"title": "Order #1", "contact_phone": "+201017177777", **fields}


BIG_CUSTOM_FIELDS = {"notes": "x" * (32 * 1024)}

REFUSED: list[tuple[str, type[BaseModel], dict[str, Any], tuple[str | int, ...]]] = [
    ("phone abc", Contact, {"phones": ["abc"]}, ("phones", 0)),
    ("phone with 00 kept", Contact, {"phones": ["+00201017177777"]}, ("phones", 0)),
    ("phone without +", Contact, {"phones": ["201017177777"]}, ("phones", 0)),
    ("phone too short", Contact, {"phones": ["+2010171"]}, ("phones", 0)),
    ("phone too long", Contact, {"phones": ["+2010171777771234"]}, ("phones", 0)),
    ("phone with spaces", Contact, {"phones": ["+20 101 717 7777"]}, ("phones", 0)),
    ("phone with newline", Contact, {"phones": ["+201017177777\n"]}, ("phones", 0)),
    ("email not an email", Contact, {"emails": ["not-an-email"]}, ("emails", 0)),
    ("email short tld", Contact, {"emails": ["a@b.c"]}, ("emails", 0)),
    ("email uppercase", Contact, {"emails": ["Mahmoud@Example.com"]}, ("emails", 0)),
    ("email with newline", Contact, {"emails": ["a@b.com\n"]}, ("emails", 0)),
    ("email with space", Contact, {"emails": ["a b@c.com"]}, ("emails", 0)),
    ("first name 101", Contact, {"first_name": "x" * 101}, ("first_name",)),
    ("last name 101", Contact, {"last_name": "x" * 101}, ("last_name",)),
    ("source 51", Contact, {"source": "x" * 51}, ("source",)),
    ("tag 51", Contact, {"tags": ["ok", "x" * 51]}, ("tags", 1)),
    ("empty tag", Contact, {"tags": [""]}, ("tags", 0)),
    ("description 5001", Contact, {"description": "x" * 5001}, ("description",)),
    ("NUL in a name", Contact, {"first_name": "Ma\x00hmoud"}, ("first_name",)),
    ("lone surrogate", Contact, {"tags": ["\ud800"]}, ("tags", 0)),
    ("surrogate in custom fields", Contact, {"custom_fields": {"a": "\udc00"}}, ("custom_fields",)),
    ("unknown field", Contact, {"phone": "+201017177777"}, ("phone",)),
    ("bad assignee uuid", Contact, {"assignee_id": "f2b4..."}, ("assignee_id",)),
    ("key with space", Contact, {"custom_fields": {"Order ID": 1}}, ("custom_fields",)),
    ("key with _", Contact, {"custom_fields": {"_private": 1}}, ("custom_fields",)),
    ("key of 65", Contact, {"custom_fields": {"k" * 65: 1}}, ("custom_fields",)),
    ("key not ascii", Contact, {"custom_fields": {"prénom": 1}}, ("custom_fields",)),
    ("key with dash", Contact, {"custom_fields": {"order-id": 1}}, ("custom_fields",)),
    ("key uppercase", Contact, {"custom_fields": {"OrderId": 1}}, ("custom_fields",)),
    ("key with newline", Contact, {"custom_fields": {"order_id\n": 1}}, ("custom_fields",)),
    ("custom fields > 32 KB", Contact, {"custom_fields": BIG_CUSTOM_FIELDS}, ("custom_fields",)),
    ("set in custom fields", Contact, {"custom_fields": {"a": {1}}}, ("custom_fields",)),
    ("NaN in custom fields", Contact, {"custom_fields": {"a": float("nan")}}, ("custom_fields",)),
    ("NUL in custom fields", Contact, {"custom_fields": {"a": ["\x00"]}}, ("custom_fields",)),
    ("missing title", Deal, {"contact_id": CONTACT_ID}, ("title",)),
    ("empty title", Deal, _deal(title=""), ("title",)),
    ("title 201", Deal, _deal(title="x" * 201), ("title",)),
    ("missing contact_id", Deal, {"title": "Order #1"}, ("contact_id",)),
    ("contact_id not uuid", Deal, _deal(contact_id="f2b4f7ab-..."), ("contact_id",)),
    ("currency of 2", Deal, _deal(currency="SR"), ("currency",)),
    ("currency lowercase", Deal, _deal(currency="sar"), ("currency",)),
    ("currency with digit", Deal, _deal(currency="US1"), ("currency",)),
    ("value -1", Deal, _deal(value=-1), ("value",)),
    ("value NaN", Deal, _deal(value="NaN"), ("value",)),
    ("value infinite", Deal, _deal(value="Infinity"), ("value",)),
    ("value a string", Deal, _deal(value="11,523"), ("value",)),
    ("value a bool", Deal, _deal(value=True), ("value",)),
    ("value 16 digits", Deal, _deal(value=Decimal("1234567890123.456")), ("value",)),
    ("value 10^15", Deal, _deal(value=10**15), ("value",)),
    ("probability 101", Deal, _deal(probability=101), ("probability",)),
    ("probability -1", Deal, _deal(probability=-1), ("probability",)),
    ("date d/m/y", Deal, _deal(expected_close_date="15/05/2026"), ("expected_close_date",)),
    ("date compact", Deal, _deal(expected_close_date="20260515"), ("expected_close_date",)),
    ("date unpadded", Deal, _deal(expected_close_date="2026-5-15"), ("expected_close_date",)),
    ("date impossible", Deal, _deal(expected_close_date="2026-02-30"), ("expected_close_date",)),
    (
        "datetime string",
        Deal,
        _deal(expected_close_date="2026-05-15T00:00:00Z"),
        ("expected_close_date",),
    ),
    (
        "datetime object",
        Deal,
        _deal(expected_close_date=datetime(2026, 5, 15)),
        ("expected_close_date",),
    ),
    ("date timestamp", Deal, _deal(expected_close_date=1778803200), ("expected_close_date",)),
    ("stage uppercase", Deal, _deal(stage="QUALIFIED"), ("stage",)),
    ("stage capitalised", Deal, _deal(stage="Qualified"), ("stage",)),
    ("stage with spaces", Deal, _deal(stage=" qualified"), ("stage",)),
    ("stage empty", Deal, _deal(stage=""), ("stage",)),
    ("product quantity -1", Deal, _deal(products=[{"quantity": -1}]), ("products", 0, "quantity")),
    ("update uppercase stage", DealUpdate, {"stage": "QUALIFIED"}, ("stage",)),
    ("update probability 101", DealUpdate, {"probability": 101}, ("probability",)),
    ("bulk row without contact", BulkDeal, {"title": "Order #1"}, ("contact_id",)),
    (
        "bulk row long name",
        BulkDeal,
        _bulk_row(contact_first_name="x" * 101),
        ("contact_first_name",),
    ),
    ("bulk row missing title", BulkDeal, {"contact_phone": "+201017177777"}, ("title",)),
    ("lead deal with contact_id", Lead, {"contact": {}, "deal": _deal()}, ("deal", "contact_id")),
    ("lead deal without title", Lead, {"contact": {}, "deal": {}}, ("deal", "title")),
    ("search without query", SearchContactsRequest, {"query": ""}, ("query",)),
    ("search limit 0", SearchContactsRequest, {"query": "a", "limit": 0}, ("limit",)),
]


@pytest.mark.parametrize(
    ("model", "body", "loc"),
    [pytest.param(model, body, loc, id=name) for name, model, body, loc in REFUSED],
)
def test_invalid_body_is_refused_at_its_field(
    model: type[BaseModel], body: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    assert _locs(refused.value) == [loc]
    assert refused.value.errors()[0]["msg"]


def test_bulk_deal_row_without_contact_names_the_row_and_field() -> None:
    body = {"deals": [_bulk_row(), {"title": "Order #2", "value": 5}]}
    with pytest.raises(ValidationError) as refused:
        BulkDealsRequest.model_validate(body)
    assert _locs(refused.value) == [("deals", 1, "contact_id")]
    assert "contact_email" in refused.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    ("contact", "value"),
    [
        ("contact_id", CONTACT_ID),
        ("contact_email", "noha@example.com"),
        ("contact_phone", "+201017177777"),
    ],
)
def test_bulk_deal_row_needs_only_one_way_to_its_contact(contact: str, value: str) -> None:
    BulkDeal.model_validate({"title": "Order #1", contact: value})


@pytest.mark.parametrize(
    ("row", "loc"),
    [
        ({"contact_phone": "01017177777"}, ("contact_phone",)),
        ({"contact_email": "Noha@x"}, ("contact_email",)),
    ],
)
def test_bulk_deal_row_with_only_an_invalid_contact_names_both(
    row: dict[str, str], loc: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as refused:
        BulkDeal.model_validate({"title": "Order #1", **row})
    assert _locs(refused.value) == [loc, ("contact_id",)]


def test_bulk_deal_row_with_an_invalid_and_a_valid_contact_names_the_invalid() -> None:
    with pytest.raises(ValidationError) as refused:
        BulkDeal.model_validate(_bulk_row(contact_email="Noha@x"))
    assert _locs(refused.value) == [("contact_email",)]


def test_101_deals_are_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        BulkDealsRequest(deals=[BulkDeal.model_validate(_bulk_row())] * 101)
    assert _locs(refused.value) == [("deals",)]


def test_100_deals_are_accepted() -> None:
    BulkDealsRequest(deals=[BulkDeal.model_validate(_bulk_row())] * 100)


def test_501_contacts_are_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        BulkContactsRequest(contacts=[Contact(first_name="a")] * 501)
    assert _locs(refused.value) == [("contacts",)]


def test_500_contacts_are_accepted() -> None:
    BulkContactsRequest(contacts=[Contact(first_name="a")] * 500)


def test_101_leads_are_refused() -> None:
    lead = Lead.model_validate_json(CREATE_LEAD)
    with pytest.raises(ValidationError) as refused:
        BulkLeadsRequest(leads=[lead] * 101)
    assert _locs(refused.value) == [("leads",)]


def test_bad_row_of_a_bulk_request_is_located() -> None:
    body = json.loads(DOC_2_1_4_BULK_CONTACTS)
    body["contacts"][1]["phones"] = ["+00201017177777"]
    with pytest.raises(ValidationError) as refused:
        BulkContactsRequest.model_validate(body)
    assert _locs(refused.value) == [("contacts", 1, "phones", 0)]


def test_custom_fields_of_exactly_32_kb_are_accepted() -> None:
    fields = {"notes": ""}
    fields["notes"] = "x" * (32 * 1024 - custom_fields_size(fields))
    assert custom_fields_size(fields) == 32 * 1024
    Contact(custom_fields=fields)


def test_custom_fields_size_counts_utf8_bytes() -> None:
    assert custom_fields_size({"a": "é"}) == len('{"a":"é"}'.encode())


def test_nested_custom_field_keys_are_free_form() -> None:
    Deal.model_validate(_deal(custom_fields={"address": {"City Name": "Riyadh"}}))


def test_date_object_is_accepted() -> None:
    deal = Deal.model_validate(_deal(expected_close_date=date(2026, 5, 15)))
    assert deal.to_json()["expected_close_date"] == "2026-05-15"


def test_stage_may_hold_digits_dashes_and_underscores() -> None:
    assert DealUpdate(stage="closed_won-2").stage == "closed_won-2"


# --- money on the wire -----------------------------------------------------


def _valued(value: Decimal) -> Deal:
    return Deal.model_validate(_deal(value=value))


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (Decimal("11523"), "11523"),
        (Decimal("10.50"), "10.50"),
        (Decimal("0.1") + Decimal("0.2"), "0.3"),
        (Decimal("1E+2"), "100"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("0.00"), "0"),
        (Decimal("-0"), "0"),
        (Decimal("999999999999999"), "999999999999999"),
        (Decimal("12345678901234.5"), "12345678901234.5"),
    ],
)
def test_dumps_writes_money_as_its_exact_decimal_literal(value: Decimal, literal: str) -> None:
    assert f'"value":{literal},' in dumps(_valued(value)).decode()


def test_decimal_text_never_goes_through_float() -> None:
    assert decimal_text(Decimal("0.12345678901234567890")) == "0.12345678901234567890"


def test_decimal_text_refuses_nan() -> None:
    with pytest.raises(ValueError, match="not a JSON number"):
        decimal_text(Decimal("NaN"))


@pytest.mark.parametrize(
    ("value", "number"),
    [(Decimal("11523"), 11523), (Decimal("10.50"), 10.5), (Decimal("0.1") + Decimal("0.2"), 0.3)],
)
def test_to_json_gives_money_as_a_json_number(value: Decimal, number: float) -> None:
    body = _valued(value).to_json()
    assert body["value"] == number
    assert not isinstance(body["value"], str)


def test_json_dumps_of_to_json_writes_a_number() -> None:
    text = json.dumps(_valued(Decimal("0.1") + Decimal("0.2")).to_json())
    assert '"value": 0.3,' in text


def test_model_dump_json_writes_a_number() -> None:
    text = _valued(Decimal("10.50")).model_dump_json(exclude_none=True)
    assert '"value":10.5,' in text


@pytest.mark.parametrize("value", ["0.1", "10.50", "199.99", "12345678901234.5", "0.000001"])
def test_money_survives_a_json_round_trip_exactly(value: str) -> None:
    deal = _valued(Decimal(value))
    back = Deal.model_validate(json.loads(json.dumps(deal.to_json())))
    assert back.value == Decimal(value)
    wire = json.loads(dumps(deal), parse_float=Decimal)
    assert wire["value"] == Decimal(value)


def test_probability_is_a_json_number() -> None:
    body = DealUpdate(stage="won", probability=Decimal("62.5"))
    assert json.loads(dumps(body)) == {"stage": "won", "probability": 62.5}


def test_product_amounts_are_json_numbers() -> None:
    product = Product(name="Sku1", quantity=Decimal(2), unit_price=Decimal("50.25"))
    assert dumps(product) == b'{"name":"Sku1","quantity":2,"unit_price":50.25}'
    assert product.to_json() == {"name": "Sku1", "quantity": 2, "unit_price": 50.25}


def test_decimal_in_custom_fields_becomes_an_exact_number() -> None:
    contact = Contact(custom_fields={"last_order_value": Decimal("1200.50")})
    assert contact.custom_fields == {"last_order_value": 1200.5}
    assert b'"last_order_value":1200.5' in dumps(contact)


def test_dumps_leaves_out_null_fields_and_writes_utf8() -> None:
    assert dumps(Contact(first_name="محمود")) == '{"first_name":"محمود"}'.encode()


def test_dumps_writes_uuids_and_dates_as_strings() -> None:
    sent = json.loads(dumps(Deal.model_validate(_deal(expected_close_date="2026-05-15"))))
    assert sent["contact_id"] == CONTACT_ID
    assert sent["expected_close_date"] == "2026-05-15"


def test_dumps_accepts_plain_containers_of_models() -> None:
    assert dumps({"rows": [Contact(first_name="a")], "n": Decimal("1.0")}) == (
        b'{"rows":[{"first_name":"a"}],"n":1}'
    )


def test_dumps_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(TypeError, match="set"):
        dumps({"a": {1}})
