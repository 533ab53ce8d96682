"""GET rest-api-proxy: PostgREST's filter grammar and its PostgreSQL semantics."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.sandbox.conftest import create_contact, create_deal

CONTACTS: dict[str, dict[str, Any]] = {
    "mahmoud": {
        "first_name": "Mahmoud",
        "last_name": "Ali",
        "phones": ["+201017177777"],
        "emails": ["mahmoud@example.com"],
        "tags": ["vip", "newsletter"],
        "source": "website",
        "custom_fields": {
            "customer_type": "VIP",
            "last_order_value": 1200,
            "is_gift": True,
            "address": {"city": "Cairo"},
        },
    },
    "sara": {
        "first_name": "Sara",
        "phones": ["+201222222222", "+201333333333"],
        "tags": ["newsletter"],
        "source": "csv-import",
        "opt_in_status": False,
        "custom_fields": {"customer_type": "Regular", "last_order_value": 999},
    },
    "noha": {
        "first_name": "noha",
        "last_name": "Hassan",
        "emails": ["noha@example.com"],
        "custom_fields": {"last_order_value": "n/a", "is_gift": False},
    },
    "nameless": {"emails": ["x_y@example.com"]},
}


@pytest.fixture
def people(api: TestClient) -> dict[str, str]:
    return {name: create_contact(api, **fields)["id"] for name, fields in CONTACTS.items()}


def names(api: TestClient, people: dict[str, str], params: dict[str, str]) -> set[str]:
    response = api.get("/rest-api-proxy/contacts", params=params)
    assert response.status_code == 200, response.text
    by_id = {v: k for k, v in people.items()}
    return {by_id[row["id"]] for row in response.json()}


MATCHES = [
    ({"first_name": "eq.Mahmoud"}, {"mahmoud"}),
    # NULL is neither equal nor unequal: the nameless contact matches neither.
    ({"first_name": "neq.Mahmoud"}, {"sara", "noha"}),
    ({"first_name": "not.eq.Mahmoud"}, {"sara", "noha"}),
    ({"first_name": "is.null"}, {"nameless"}),
    ({"first_name": "not.is.null"}, {"mahmoud", "sara", "noha"}),
    ({"first_name": "like.*ah*"}, {"mahmoud"}),
    ({"first_name": "like.N*"}, set()),
    ({"first_name": "ilike.N*"}, {"noha"}),
    ({"first_name": "like.Sar_"}, {"sara"}),
    ({"first_name": "like.Sar%"}, {"sara"}),
    ({"first_name": "in.(Sara,noha)"}, {"sara", "noha"}),
    ({"first_name": 'in.("Sara","x,y")'}, {"sara"}),
    ({"first_name": "in.()"}, set()),
    ({"first_name": "gt.n"}, {"noha"}),
    ({"first_name": "lte.Sara"}, {"mahmoud", "sara"}),
    ({"first_name": "match.^[MS]"}, {"mahmoud", "sara"}),
    ({"first_name": "imatch.^N"}, {"noha"}),
    ({"first_name": "isdistinct.Mahmoud"}, {"sara", "noha", "nameless"}),
    ({"last_name": "is.null"}, {"sara", "nameless"}),
    ({"opt_in_status": "is.false"}, {"sara"}),
    ({"opt_in_status": "is.true"}, {"mahmoud", "noha", "nameless"}),
    ({"opt_in_status": "eq.f"}, {"sara"}),
    ({"phones": 'cs.{"+201017177777"}'}, {"mahmoud"}),
    ({"phones": "cs.{+201222222222,+201333333333}"}, {"sara"}),
    ({"phones": "cs.{+201222222222,+201017177777}"}, set()),
    ({"phones": "ov.{+201017177777,+201333333333}"}, {"mahmoud", "sara"}),
    # The empty array is contained by every array.
    ({"phones": "cd.{+201222222222,+201333333333,+1999}"}, {"sara", "noha", "nameless"}),
    ({"phones": "eq.{}"}, {"noha", "nameless"}),
    ({"emails": 'cs.{"mahmoud@example.com"}'}, {"mahmoud"}),
    ({"emails": 'cs.{"MAHMOUD@example.com"}'}, set()),
    ({"tags": "cs.{newsletter}"}, {"mahmoud", "sara"}),
    ({"tags": "cs.{vip}", "source": "eq.website"}, {"mahmoud"}),
    ({"tags": "cs.{vip}", "source": "eq.csv-import"}, set()),
    ({"source": "in.(website,csv-import)"}, {"mahmoud", "sara"}),
    ({"custom_fields->>customer_type": "eq.VIP"}, {"mahmoud"}),
    ({"custom_fields->>customer_type": "is.null"}, {"noha", "nameless"}),
    # ->> yields text, compared as text: "999" and "n/a" sort after "1000".
    ({"custom_fields->>last_order_value": "gt.1000"}, {"mahmoud", "sara", "noha"}),
    ({"custom_fields->>last_order_value": "eq.1200"}, {"mahmoud"}),
    ({"custom_fields->last_order_value": "eq.1200"}, {"mahmoud"}),
    ({"custom_fields->last_order_value": "eq.1200.0"}, {"mahmoud"}),
    ({"custom_fields->last_order_value": 'eq."n/a"'}, {"noha"}),
    ({"custom_fields->is_gift": "eq.true"}, {"mahmoud"}),
    ({"custom_fields->>is_gift": "eq.false"}, {"noha"}),
    ({"custom_fields->address->>city": "eq.Cairo"}, {"mahmoud"}),
    ({"custom_fields": 'cs.{"is_gift":true}'}, {"mahmoud"}),
    ({"custom_fields": 'cs.{"address":{"city":"Cairo"}}'}, {"mahmoud"}),
    ({"custom_fields": "cs.{}"}, {"mahmoud", "sara", "noha", "nameless"}),
    ({"custom_fields": "eq.{}"}, {"nameless"}),
    (
        {"custom_fields": 'cd.{"last_order_value":"n/a","is_gift":false,"x":1}'},
        {"noha", "nameless"},
    ),
    ({"created_at": "gte.2000-01-01"}, {"mahmoud", "sara", "noha", "nameless"}),
    ({"created_at": "lt.2000-01-01T00:00:00Z"}, set()),
]


@pytest.mark.parametrize(("params", "expected"), MATCHES, ids=[str(p) for p, _ in MATCHES])
def test_filter_matches_as_postgrest_does(
    api: TestClient, people: dict[str, str], params: dict[str, str], expected: set[str]
) -> None:
    assert names(api, people, params) == expected


def test_filter_by_id_and_id_list(api: TestClient, people: dict[str, str]) -> None:
    assert names(api, people, {"id": f"eq.{people['sara']}"}) == {"sara"}
    listed = f"in.({people['sara']},{people['noha']})"
    assert names(api, people, {"id": listed}) == {"sara", "noha"}
    assert names(api, people, {"id": f"eq.{people['sara'].upper()}"}) == {"sara"}


def test_get_without_match_answers_empty_array(api: TestClient, people: dict[str, str]) -> None:
    response = api.get("/rest-api-proxy/contacts", params={"first_name": "eq.Nobody"})
    assert response.status_code == 200
    assert response.json() == []


ERRORS = [
    ({"foo": "eq.1"}, 400, "42703", "column contacts.foo does not exist"),
    ({"org_id": "eq.1"}, 400, "42703", "column contacts.org_id does not exist"),
    ({"first_name": "eq"}, 400, "PGRST100", None),
    (
        {"first_name": "xyz.1"},
        400,
        "PGRST100",
        '"failed to parse filter (xyz.1)" (line 1, column 1)',
    ),
    ({"first_name": "Mahmoud"}, 400, "PGRST100", None),
    ({"first_name": "not.bogus.1"}, 400, "PGRST100", None),
    ({"first_name": "in.Sara"}, 400, "PGRST100", None),
    ({"first_name": "in.(Sara"}, 400, "PGRST100", None),
    ({"opt_in_status": "is.maybe"}, 400, "PGRST100", None),
    ({"opt_in_status": "eq.maybe"}, 400, "22P02", 'invalid input syntax for type boolean: "maybe"'),
    ({"id": "eq.not-a-uuid"}, 400, "22P02", 'invalid input syntax for type uuid: "not-a-uuid"'),
    ({"created_at": "gt.yesterday"}, 400, "22P02", None),
    ({"phones": "cs.+201017177777"}, 400, "22P02", 'malformed array literal: "+201017177777"'),
    ({"phones": 'cs.{"+201017177777"'}, 400, "22P02", None),
    ({"phones": "cs.{a}junk"}, 400, "22P02", None),
    ({"custom_fields": "cs.{is_gift:true}"}, 400, "22P02", "invalid input syntax for type json"),
    ({"custom_fields->x": "eq.VIP"}, 400, "22P02", "invalid input syntax for type json"),
    ({"first_name": "cs.{a}"}, 404, "42883", "operator does not exist: text @> unknown"),
    ({"id": "like.*a*"}, 404, "42883", "operator does not exist: uuid ~~ unknown"),
    ({"tags": "ilike.*a*"}, 404, "42883", "operator does not exist: text[] ~~* unknown"),
    ({"first_name->>x": "eq.1"}, 404, "42883", "operator does not exist: text ->> unknown"),
    ({"first_name": "is.true"}, 400, "42804", None),
    ({"first_name": "match.(unclosed"}, 400, "2201B", None),
    ({"select": "nope"}, 400, "42703", "column contacts.nope does not exist"),
    ({"select": "id,deals(*)"}, 400, "PGRST200", None),
    ({"select": "id::text"}, 400, "PGRST100", None),
    ({"order": "nope.desc"}, 400, "42703", None),
    ({"order": "first_name.sideways"}, 400, "PGRST100", None),
    ({"limit": "abc"}, 400, "PGRST100", None),
    ({"offset": "-1"}, 400, "PGRST100", None),
]


@pytest.mark.parametrize(
    ("params", "status", "code", "message"), ERRORS, ids=[str(e[0]) for e in ERRORS]
)
def test_bad_query_answers_postgrest_error(
    api: TestClient, params: dict[str, str], status: int, code: str, message: str | None
) -> None:
    response = api.get("/rest-api-proxy/contacts", params=params)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"code", "details", "hint", "message"}
    assert body["code"] == code
    if message is not None:
        assert body["message"] == message


def test_unencoded_plus_in_phone_filter_is_a_malformed_array_literal(api: TestClient) -> None:
    create_contact(api, phones=["+201017177777"])
    # What `curl 'https://...?phones=cs.{"+201017177777"}'` sends: "+" decodes to a space.
    response = api.get('/rest-api-proxy/contacts?phones=cs.{"+201017177777"}')
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "22P02"
    assert body["message"].startswith('malformed array literal: "{" 201017177777')
    assert "%2B" in body["hint"]


def test_encoded_plus_in_phone_filter_matches(api: TestClient) -> None:
    contact = create_contact(api, phones=["+201017177777"])
    response = api.get('/rest-api-proxy/contacts?phones=cs.{"%2B201017177777"}')
    assert [row["id"] for row in response.json()] == [contact["id"]]


def test_unknown_table_answers_pgrst205(api: TestClient) -> None:
    response = api.get("/rest-api-proxy/companies")
    assert response.status_code == 404
    assert response.json()["code"] == "PGRST205"


# --- select, order, limit, offset ---------------------------------------------


def test_select_json_path_names_the_key_after_its_last_segment(
    api: TestClient, people: dict[str, str]
) -> None:
    response = api.get(
        "/rest-api-proxy/contacts",
        params={"select": "id,custom_fields->>customer_type", "id": f"eq.{people['mahmoud']}"},
    )
    assert response.json() == [{"id": people["mahmoud"], "customer_type": "VIP"}]


def test_select_arrow_keeps_json_and_alias_renames(api: TestClient, people: dict[str, str]) -> None:
    response = api.get(
        "/rest-api-proxy/contacts",
        params={
            "select": "name:first_name,custom_fields->address",
            "id": f"eq.{people['mahmoud']}",
        },
    )
    assert response.json() == [{"name": "Mahmoud", "address": {"city": "Cairo"}}]


def test_select_star_returns_every_column(api: TestClient, people: dict[str, str]) -> None:
    response = api.get("/rest-api-proxy/contacts", params={"select": "*", "limit": "1"})
    assert list(response.json()[0]) == [
        "id", "first_name", "last_name", "phones", "emails", "source", "tags", "assignee_id",
        "company_id", "description", "opt_in_status", "custom_fields", "created_at", "updated_at",
    ]  # fmt: skip


ORDERS = [
    ("first_name.asc", ["mahmoud", "sara", "noha", "nameless"]),
    ("first_name", ["mahmoud", "sara", "noha", "nameless"]),
    ("first_name.desc", ["nameless", "noha", "sara", "mahmoud"]),
    ("first_name.desc.nullslast", ["noha", "sara", "mahmoud", "nameless"]),
    ("first_name.asc.nullsfirst", ["nameless", "mahmoud", "sara", "noha"]),
    ("created_at.desc", ["nameless", "noha", "sara", "mahmoud"]),
    ("opt_in_status.asc,first_name.desc", ["sara", "nameless", "noha", "mahmoud"]),
    ("custom_fields->>customer_type.asc", ["sara", "mahmoud", "noha", "nameless"]),
]


@pytest.mark.parametrize(("order", "expected"), ORDERS)
def test_order_sorts_as_postgresql(
    api: TestClient, people: dict[str, str], order: str, expected: list[str]
) -> None:
    response = api.get("/rest-api-proxy/contacts", params={"order": order, "select": "id"})
    by_id = {v: k for k, v in people.items()}
    assert [by_id[row["id"]] for row in response.json()] == expected


def test_limit_and_offset_page_the_ordered_rows(api: TestClient, people: dict[str, str]) -> None:
    response = api.get(
        "/rest-api-proxy/contacts",
        params={"order": "first_name.asc", "limit": "2", "offset": "1", "select": "first_name"},
    )
    assert response.json() == [{"first_name": "Sara"}, {"first_name": "noha"}]
    assert response.headers["Content-Range"] == "1-2/*"


def test_count_exact_reports_the_total_in_content_range(
    api: TestClient, people: dict[str, str]
) -> None:
    response = api.get(
        "/rest-api-proxy/contacts", params={"limit": "1"}, headers={"Prefer": "count=exact"}
    )
    assert response.headers["Content-Range"] == "0-0/4"


# --- deals: numeric, date and uuid columns ------------------------------------


@pytest.fixture
def deals(api: TestClient) -> dict[str, str]:
    contact = create_contact(api, first_name="Buyer")["id"]
    rows = {
        "big": {"title": "Order #68297792", "value": 11523, "probability": 60,
                "expected_close_date": "2026-05-15", "stage": "qualified"},
        "small": {"title": "Order #68297793", "value": 540.5, "probability": 10,
                  "expected_close_date": "2026-07-01", "stage": "QUALIFIED"},
        "free": {"title": "Sample", "custom_fields": {"external_id": "68297792"}},
    }  # fmt: skip
    return {k: create_deal(api, contact_id=contact, **v)["id"] for k, v in rows.items()}


DEAL_MATCHES = [
    ({"value": "gt.1000"}, {"big"}),
    ({"value": "eq.540.50"}, {"small"}),
    ({"value": "is.null"}, {"free"}),
    ({"probability": "gte.10"}, {"big", "small"}),
    ({"expected_close_date": "lt.2026-06-01"}, {"big"}),
    ({"title": "ilike.*68297792*"}, {"big"}),
    ({"title": "like.*order*"}, set()),
    ({"stage": "eq.QUALIFIED"}, {"small"}),
    ({"stage": "eq.new"}, {"free"}),
    ({"custom_fields->>external_id": "eq.68297792"}, {"free"}),
    ({"currency": "eq.USD"}, {"big", "small", "free"}),
]


@pytest.mark.parametrize(
    ("params", "expected"), DEAL_MATCHES, ids=[str(p) for p, _ in DEAL_MATCHES]
)
def test_deal_filter_matches(
    api: TestClient, deals: dict[str, str], params: dict[str, str], expected: set[str]
) -> None:
    response = api.get("/rest-api-proxy/deals", params=params)
    assert response.status_code == 200, response.text
    by_id = {v: k for k, v in deals.items()}
    assert {by_id[row["id"]] for row in response.json()} == expected


def test_numeric_filter_with_text_operand_is_22p02(api: TestClient) -> None:
    response = api.get("/rest-api-proxy/deals", params={"value": "gt.lots"})
    assert response.json()["message"] == 'invalid input syntax for type numeric: "lots"'


def test_numeric_value_comes_back_as_json_number(api: TestClient, deals: dict[str, str]) -> None:
    response = api.get("/rest-api-proxy/deals", params={"select": "value", "order": "value.desc"})
    assert response.json() == [{"value": None}, {"value": 11523}, {"value": 540.5}]


# --- logic trees and single objects -----------------------------------------------

LOGIC = [
    ({"or": "(first_name.eq.Sara,first_name.eq.noha)"}, {"sara", "noha"}),
    ({"or": '(emails.cs.{"noha@example.com"},phones.cs.{"+201017177777"})'}, {"mahmoud", "noha"}),
    ({"or": "(first_name.eq.Sara,and(tags.cs.{vip},source.eq.website))"}, {"sara", "mahmoud"}),
    ({"and": "(tags.cs.{newsletter},opt_in_status.is.true)"}, {"mahmoud"}),
    ({"not.or": "(first_name.eq.Sara,first_name.is.null)"}, {"mahmoud", "noha"}),
    ({"or": "(first_name.not.in.(Sara,noha),last_name.eq.Ali)"}, {"mahmoud"}),
    ({"or": '(first_name.ilike."*a,h*",first_name.eq.noha)'}, {"noha"}),
    # NULL OR false is unknown, so its negation is unknown too: the nameless row stays out.
    ({"not.or": "(first_name.eq.Sara,last_name.eq.Hassan)"}, {"mahmoud"}),
]


@pytest.mark.parametrize(("params", "expected"), LOGIC, ids=[str(p) for p, _ in LOGIC])
def test_logic_tree_matches_as_postgrest_does(
    api: TestClient, people: dict[str, str], params: dict[str, str], expected: set[str]
) -> None:
    assert names(api, people, params) == expected


@pytest.mark.parametrize(
    "value", ["first_name.eq.Sara", "(first_name.eq.Sara", "(first_name.bogus.x)", "(nope)"]
)
def test_malformed_logic_tree_is_pgrst100(api: TestClient, value: str) -> None:
    response = api.get("/rest-api-proxy/contacts", params={"or": value})
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST100"


def test_logic_tree_counts_as_a_where_clause(api: TestClient, people: dict[str, str]) -> None:
    response = api.patch(
        "/rest-api-proxy/contacts", params={"or": "(first_name.eq.Sara)"}, json={"last_name": "S"}
    )
    assert response.status_code == 204
    assert names(api, people, {"last_name": "eq.S"}) == {"sara"}


SINGLE = {"Accept": "application/vnd.pgrst.object+json"}


def test_single_object_accept_header_answers_an_object(
    api: TestClient, people: dict[str, str]
) -> None:
    response = api.get("/rest-api-proxy/contacts", params={"first_name": "eq.Sara"}, headers=SINGLE)
    assert response.status_code == 200
    assert response.json()["id"] == people["sara"]


@pytest.mark.parametrize(("filter_value", "count"), [("eq.Nobody", 0), ("not.is.null", 3)])
def test_single_object_of_other_than_one_row_is_406(
    api: TestClient, people: dict[str, str], filter_value: str, count: int
) -> None:
    response = api.get(
        "/rest-api-proxy/contacts", params={"first_name": filter_value}, headers=SINGLE
    )
    assert response.status_code == 406
    assert response.json() == {
        "code": "PGRST116",
        "details": f"The result contains {count} rows",
        "hint": None,
        "message": "Cannot coerce the result to a single JSON object",
    }
