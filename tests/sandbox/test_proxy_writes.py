"""POST, PATCH and DELETE on rest-api-proxy: PostgREST's statuses, bodies and errors."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.sandbox.conftest import REPRESENTATION, create_contact, create_deal

CONTACTS = "/rest-api-proxy/contacts"
DEALS = "/rest-api-proxy/deals"


def all_rows(api: TestClient, path: str = CONTACTS) -> list[dict[str, Any]]:
    response = api.get(path)
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()
    return rows


# --- POST -----------------------------------------------------------------------


def test_post_with_representation_answers_201_and_the_rows(api: TestClient) -> None:
    response = api.post(CONTACTS, json={"first_name": "Mahmoud"}, headers=REPRESENTATION)
    assert response.status_code == 201
    [row] = response.json()
    assert row["first_name"] == "Mahmoud"
    assert row["opt_in_status"] is True
    assert row["phones"] == []
    assert row["custom_fields"] == {}
    assert row["created_at"].endswith("Z")


def test_post_without_prefer_answers_201_with_no_body(api: TestClient) -> None:
    response = api.post(CONTACTS, json={"first_name": "Mahmoud"})
    assert response.status_code == 201
    assert response.content == b""
    assert len(all_rows(api)) == 1


def test_post_representation_honours_select(api: TestClient) -> None:
    response = api.post(
        CONTACTS + "?select=id,first_name", json={"first_name": "A"}, headers=REPRESENTATION
    )
    assert list(response.json()[0]) == ["id", "first_name"]


def test_post_array_creates_every_row(api: TestClient) -> None:
    response = api.post(
        CONTACTS, json=[{"first_name": "A"}, {"first_name": "B"}], headers=REPRESENTATION
    )
    assert response.status_code == 201
    assert [r["first_name"] for r in response.json()] == ["A", "B"]


def test_post_array_with_differing_keys_is_pgrst102(api: TestClient) -> None:
    response = api.post(CONTACTS, json=[{"first_name": "A"}, {"last_name": "B"}])
    assert response.status_code == 400
    assert response.json()["message"] == "All object keys must match"


def test_post_array_is_atomic(api: TestClient) -> None:
    response = api.post(CONTACTS, json=[{"emails": ["a@example.com"]}, {"emails": ["nope"]}])
    assert response.status_code == 400
    assert all_rows(api) == []


def test_post_does_no_dedupe(api: TestClient) -> None:
    for _ in range(2):
        create_contact(api, phones=["+201017177777"])
    assert len(all_rows(api)) == 2


def test_post_unknown_column_is_pgrst204(api: TestClient) -> None:
    response = api.post(CONTACTS, json={"first_name": "A", "nickname": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "PGRST204",
        "details": None,
        "hint": None,
        "message": "Could not find the 'nickname' column of 'contacts' in the schema cache",
    }


@pytest.mark.parametrize("body", [b"{not json", b"", b'"text"', b"[1, 2]"])
def test_post_invalid_json_is_pgrst102(api: TestClient, body: bytes) -> None:
    response = api.post(CONTACTS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"


def test_post_with_taken_id_is_23505_conflict(api: TestClient) -> None:
    row = create_contact(api, first_name="A")
    response = api.post(CONTACTS, json={"id": row["id"], "first_name": "B"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "23505"
    assert body["details"] == f"Key (id)=({row['id']}) already exists."


def test_post_normalises_phones_and_lowercases_emails(api: TestClient) -> None:
    row = create_contact(api, phones=["+20 101-717 (7777)", "201017177778"], emails=["A@B.COM"])
    assert row["phones"] == ["+201017177777", "+201017177778"]
    assert row["emails"] == ["a@b.com"]


def test_post_deal_defaults_pipeline_stage_and_currency(env: Any, api: TestClient) -> None:
    contact = create_contact(api)
    deal = create_deal(api, title="Order #1", contact_id=contact["id"], value=11523)
    org = env.sandbox.ensure_default_org([])
    assert deal["pipeline_id"] == org.pipeline_id
    assert deal["stage"] == "new"
    assert deal["currency"] == "USD"
    assert deal["value"] == 11523


def test_post_deal_keeps_uppercase_stage_as_sent(api: TestClient) -> None:
    contact = create_contact(api)
    deal = create_deal(api, title="T", contact_id=contact["id"], stage="QUALIFIED")
    assert deal["stage"] == "QUALIFIED"


DEAL_ERRORS = [
    ({"value": 1}, "title is required"),
    ({"title": "", "value": 1}, "title is required"),
    ({"title": "T"}, "contact_id is required"),
    ({"title": "T", "contact_id": "00000000-0000-4000-8000-000000000000"}, "Contact not found"),
    ({"title": "x" * 201, "contact_id": "C"}, "title must be at most 200 characters"),
    ({"title": "T", "contact_id": "C", "value": -1}, "value must be a number >= 0"),
    ({"title": "T", "contact_id": "C", "value": "100"}, "value must be a number >= 0"),
    ({"title": "T", "contact_id": "C", "currency": "SARS"}, None),
    ({"title": "T", "contact_id": "C", "currency": "sar"}, None),
    ({"title": "T", "contact_id": "C", "probability": 101}, None),
    ({"title": "T", "contact_id": "C", "expected_close_date": "15/05/2026"}, None),
    ({"title": "T", "contact_id": "C", "expected_close_date": "2026-02-30"}, None),
    ({"title": "T", "contact_id": "C", "stage": "closed"}, None),
    (
        {"title": "T", "contact_id": "C", "pipeline_id": "00000000-0000-4000-8000-000000000000"},
        None,
    ),
    ({"title": "T", "contact_id": "C", "pipeline_id": "nope"}, "pipeline_id must be a uuid"),
    ({"title": "T", "contact_id": "C", "custom_fields": ["a"]}, None),
    ({"title": "T", "contact_id": "C", "custom_fields": {"k": "x" * 33000}}, None),
    ({"title": "T", "contact_id": "C", "products": {"name": "a"}}, None),
    ({"title": "T", "contact_id": "C", "tags": ["x" * 51]}, None),
    ({"title": "T", "contact_id": "C", "description": "x" * 5001}, None),
]


@pytest.mark.parametrize(("fields", "message"), DEAL_ERRORS, ids=[str(i) for i in range(20)])
def test_post_invalid_deal_is_400_with_error(
    api: TestClient, fields: dict[str, Any], message: str | None
) -> None:
    contact = create_contact(api)
    if fields.get("contact_id") == "C":
        fields = {**fields, "contact_id": contact["id"]}
    response = api.post(DEALS, json=fields)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["error"]
    if message is not None:
        assert body["error"] == message
    assert all_rows(api, DEALS) == []


def test_unknown_pipeline_error_names_no_pipeline(api: TestClient) -> None:
    contact = create_contact(api)
    missing = "00000000-0000-4000-8000-000000000000"
    response = api.post(
        DEALS, json={"title": "T", "contact_id": contact["id"], "pipeline_id": missing}
    )
    assert response.json()["error"].startswith("No pipeline found")


CONTACT_ERRORS = [
    {"phones": ["abc"]},
    {"phones": ["1234567"]},
    {"phones": ["+1234567890123456"]},
    {"phones": "+201017177777"},
    {"emails": ["not-an-email"]},
    {"emails": ["a@b.c"]},
    {"first_name": "x" * 101},
    {"source": "x" * 51},
    {"opt_in_status": "yes"},
    {"assignee_id": "nope"},
    {"custom_fields": "text"},
]


@pytest.mark.parametrize("fields", CONTACT_ERRORS, ids=[str(i) for i in range(11)])
def test_post_invalid_contact_is_400_with_error(api: TestClient, fields: dict[str, Any]) -> None:
    response = api.post(CONTACTS, json=fields)
    assert response.status_code == 400
    assert list(response.json()) == ["error"]


# --- PATCH ------------------------------------------------------------------------


def test_patch_without_prefer_answers_204(api: TestClient) -> None:
    row = create_contact(api, first_name="Mahmoud")
    response = api.patch(CONTACTS, params={"id": f"eq.{row['id']}"}, json={"first_name": "M2"})
    assert response.status_code == 204
    assert all_rows(api)[0]["first_name"] == "M2"


def test_patch_with_representation_answers_200_and_rows(api: TestClient) -> None:
    row = create_contact(api, first_name="Mahmoud")
    response = api.patch(
        CONTACTS, params={"id": f"eq.{row['id']}"}, json={"tags": ["vip"]}, headers=REPRESENTATION
    )
    assert response.status_code == 200
    [updated] = response.json()
    assert updated["tags"] == ["vip"]
    assert updated["first_name"] == "Mahmoud"
    assert updated["updated_at"] >= row["updated_at"]


def test_patch_replaces_custom_fields(api: TestClient) -> None:
    row = create_contact(api, custom_fields={"a": 1, "b": 2})
    api.patch(CONTACTS, params={"id": f"eq.{row['id']}"}, json={"custom_fields": {"c": 3}})
    assert all_rows(api)[0]["custom_fields"] == {"c": 3}


def test_patch_by_phone_updates_every_match(api: TestClient) -> None:
    create_contact(api, phones=["+201017177777"])
    create_contact(api, phones=["+201017177777", "+201111111111"])
    create_contact(api, phones=["+201222222222"])
    response = api.patch(
        CONTACTS, params={"phones": 'cs.{"+201017177777"}'}, json={"first_name": "Found"}
    )
    assert response.status_code == 204
    assert sorted(str(r["first_name"]) for r in all_rows(api)) == ["Found", "Found", "None"]


def test_patch_matching_nothing_answers_204(api: TestClient) -> None:
    response = api.patch(CONTACTS, params={"first_name": "eq.Nobody"}, json={"last_name": "x"})
    assert response.status_code == 204


def test_patch_guarded_by_the_updated_at_read_writes_once(api: TestClient) -> None:
    # crm-api.md §2.1.3 and §3.1.4: PATCH takes any filter ("update by phone", "bulk-fix
    # stage casing"); a filter on updated_at makes it a compare-and-set
    contact = create_contact(api, first_name="A")
    deal = create_deal(api, title="Order #1", contact_id=contact["id"], custom_fields={"a": 1})
    guard = {"id": f"eq.{deal['id']}", "updated_at": f"eq.{deal['updated_at']}"}
    first = api.patch(DEALS, params=guard, json={"stage": "won"}, headers=REPRESENTATION)
    assert first.status_code == 200
    [written] = first.json()
    assert written["updated_at"] != deal["updated_at"]
    second = api.patch(DEALS, params=guard, json={"stage": "lost"}, headers=REPRESENTATION)
    # matched no row: PostgREST's 200 with [] (the error table's "404 []" is a GET's)
    assert (second.status_code, second.json()) == (200, [])
    assert all_rows(api, DEALS)[0]["stage"] == "won"


def test_two_writes_of_a_row_never_share_an_updated_at(api: TestClient) -> None:
    # the test clock stands still: the second write still moves updated_at on
    contact = create_contact(api, first_name="A")
    deal = create_deal(api, title="Order #1", contact_id=contact["id"])
    times = {deal["updated_at"]}
    for stage in ("won", "lost", "new"):
        response = api.patch(
            DEALS, params={"id": f"eq.{deal['id']}"}, json={"stage": stage}, headers=REPRESENTATION
        )
        times.add(response.json()[0]["updated_at"])
    assert len(times) == 4


def test_patch_without_filter_is_refused(api: TestClient) -> None:
    create_contact(api, first_name="A")
    response = api.patch(CONTACTS, json={"first_name": "Everyone"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "21000",
        "details": None,
        "hint": None,
        "message": "UPDATE requires a WHERE clause",
    }
    assert all_rows(api)[0]["first_name"] == "A"


def test_patch_with_only_select_and_limit_is_still_unfiltered(api: TestClient) -> None:
    response = api.patch(CONTACTS, params={"select": "id", "limit": "1"}, json={"first_name": "x"})
    assert response.json()["code"] == "21000"


def test_patch_with_empty_body_touches_nothing(api: TestClient) -> None:
    assert api.patch(CONTACTS, json={}).status_code == 204


def test_patch_validates_like_post(api: TestClient) -> None:
    row = create_contact(api)
    response = api.patch(CONTACTS, params={"id": f"eq.{row['id']}"}, json={"emails": ["bad"]})
    assert response.status_code == 400
    assert "error" in response.json()


def test_patch_normalises_phones(api: TestClient) -> None:
    row = create_contact(api)
    api.patch(CONTACTS, params={"id": f"eq.{row['id']}"}, json={"phones": ["+20 101 717 7777"]})
    found = api.get(CONTACTS, params={"phones": "cs.{+201017177777}"})
    assert [r["id"] for r in found.json()] == [row["id"]]


def test_patch_deal_stage_must_exist_in_pipeline(api: TestClient) -> None:
    contact = create_contact(api)
    deal = create_deal(api, title="T", contact_id=contact["id"])
    response = api.patch(DEALS, params={"id": f"eq.{deal['id']}"}, json={"stage": "closed"})
    assert response.status_code == 400
    assert all_rows(api, DEALS)[0]["stage"] == "new"


def test_patch_fixes_uppercase_stages(api: TestClient) -> None:
    contact = create_contact(api)
    for title in ("A", "B"):
        create_deal(api, title=title, contact_id=contact["id"], stage="QUALIFIED")
    response = api.patch(DEALS, params={"stage": "eq.QUALIFIED"}, json={"stage": "qualified"})
    assert response.status_code == 204
    assert {r["stage"] for r in all_rows(api, DEALS)} == {"qualified"}


def test_patch_deal_to_unknown_contact_is_refused(api: TestClient) -> None:
    contact = create_contact(api)
    deal = create_deal(api, title="T", contact_id=contact["id"])
    missing = "00000000-0000-4000-8000-000000000000"
    response = api.patch(DEALS, params={"id": f"eq.{deal['id']}"}, json={"contact_id": missing})
    assert response.json() == {"error": "Contact not found"}


def test_patch_deal_title_cannot_be_emptied(api: TestClient) -> None:
    contact = create_contact(api)
    deal = create_deal(api, title="T", contact_id=contact["id"])
    response = api.patch(DEALS, params={"id": f"eq.{deal['id']}"}, json={"title": ""})
    assert response.json() == {"error": "title is required"}


# --- DELETE -------------------------------------------------------------------------


def test_delete_answers_204(api: TestClient) -> None:
    row = create_contact(api)
    assert api.delete(CONTACTS, params={"id": f"eq.{row['id']}"}).status_code == 204
    assert all_rows(api) == []


def test_delete_with_representation_answers_200_and_rows(api: TestClient) -> None:
    row = create_contact(api, first_name="Gone")
    response = api.delete(CONTACTS, params={"id": f"eq.{row['id']}"}, headers=REPRESENTATION)
    assert response.status_code == 200
    assert [r["first_name"] for r in response.json()] == ["Gone"]


def test_delete_without_filter_is_refused(api: TestClient) -> None:
    create_contact(api)
    response = api.delete(CONTACTS)
    assert response.status_code == 400
    assert response.json()["message"] == "DELETE requires a WHERE clause"
    assert len(all_rows(api)) == 1


def test_deleting_a_contact_unlinks_its_deals(api: TestClient) -> None:
    contact = create_contact(api)
    create_deal(api, title="T", contact_id=contact["id"])
    api.delete(CONTACTS, params={"id": f"eq.{contact['id']}"})
    assert [d["contact_id"] for d in all_rows(api, DEALS)] == [None]


def test_deleted_contact_no_longer_matches_its_email(api: TestClient) -> None:
    contact = create_contact(api, emails=["gone@example.com"])
    api.delete(CONTACTS, params={"id": f"eq.{contact['id']}"})
    found = api.get(CONTACTS, params={"emails": "cs.{gone@example.com}"})
    assert found.json() == []


def test_method_not_supported_by_a_function_is_405(api: TestClient) -> None:
    assert api.get("/create-deals-bulk").status_code == 405


def test_unknown_function_is_404(api: TestClient) -> None:
    response = api.post("/no-such-function", json={})
    assert response.status_code == 404
