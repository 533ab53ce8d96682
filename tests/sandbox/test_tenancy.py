"""A key of organisation A can neither read nor change anything of organisation B."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import Env, create_contact, create_deal

B_EMAIL = "b-owner@example.com"
B_PHONE = "+201099999999"


@pytest.fixture
def b_data(env: Env) -> dict[str, Any]:
    contact = create_contact(
        env.b,
        first_name="Bee",
        emails=[B_EMAIL],
        phones=[B_PHONE],
        custom_fields={"external_id": "b-1"},
    )
    deal = create_deal(
        env.b, title="B order", contact_id=contact["id"], custom_fields={"external_id": "b-1"}
    )
    return {"contact": contact, "deal": deal}


def b_state(env: Env) -> tuple[list[Any], list[Any]]:
    contacts = env.b.get("/rest-api-proxy/contacts").json()
    deals = env.b.get("/rest-api-proxy/deals").json()
    return contacts, deals


@pytest.mark.parametrize(
    ("table", "params"),
    [
        ("contacts", {}),
        ("contacts", {"emails": f"cs.{{{B_EMAIL}}}"}),
        ("contacts", {"phones": f'cs.{{"{B_PHONE}"}}'}),
        ("contacts", {"custom_fields->>external_id": "eq.b-1"}),
        ("contacts", {"first_name": "ilike.*bee*"}),
        ("deals", {}),
        ("deals", {"title": "ilike.*B*"}),
        ("deals", {"custom_fields->>external_id": "eq.b-1"}),
    ],
)
def test_get_with_filters_never_returns_another_orgs_rows(
    env: Env, b_data: dict[str, Any], table: str, params: dict[str, str]
) -> None:
    response = env.a.get(f"/rest-api-proxy/{table}", params=params)
    assert response.status_code == 200
    assert response.json() == []


def test_get_by_id_of_another_org_finds_nothing(env: Env, b_data: dict[str, Any]) -> None:
    for table, row in (("contacts", b_data["contact"]), ("deals", b_data["deal"])):
        response = env.a.get(f"/rest-api-proxy/{table}", params={"id": f"eq.{row['id']}"})
        assert response.json() == []
    by_contact = {"contact_id": f"eq.{b_data['contact']['id']}"}
    assert env.a.get("/rest-api-proxy/deals", params=by_contact).json() == []


def test_patch_and_delete_by_id_change_nothing_of_another_org(
    env: Env, b_data: dict[str, Any]
) -> None:
    before = b_state(env)
    for table, row in (("contacts", b_data["contact"]), ("deals", b_data["deal"])):
        where = {"id": f"eq.{row['id']}"}
        patched = env.a.patch(f"/rest-api-proxy/{table}", params=where, json={"tags": ["x"]})
        assert patched.status_code == 204
        assert env.a.delete(f"/rest-api-proxy/{table}", params=where).status_code == 204
    wide = {"created_at": "gte.2000-01-01"}
    env.a.patch("/rest-api-proxy/contacts", params=wide, json={"first_name": "Mine"})
    env.a.delete("/rest-api-proxy/deals", params=wide)
    assert b_state(env) == before


def test_deal_cannot_link_to_another_orgs_contact(env: Env, b_data: dict[str, Any]) -> None:
    response = env.a.post(
        "/rest-api-proxy/deals", json={"title": "T", "contact_id": b_data["contact"]["id"]}
    )
    assert response.status_code == 400
    mine = create_contact(env.a)
    deal = create_deal(env.a, title="T", contact_id=mine["id"])
    moved = env.a.patch(
        "/rest-api-proxy/deals",
        params={"id": f"eq.{deal['id']}"},
        json={"contact_id": b_data["contact"]["id"]},
    )
    assert moved.json() == {"error": "Contact not found"}


def test_deal_cannot_use_another_orgs_pipeline(env: Env, b_data: dict[str, Any]) -> None:
    mine = create_contact(env.a)
    response = env.a.post(
        "/rest-api-proxy/deals",
        json={"title": "T", "contact_id": mine["id"], "pipeline_id": b_data["deal"]["pipeline_id"]},
    )
    assert response.status_code == 400


def test_bulk_deals_never_resolve_another_orgs_contact(env: Env, b_data: dict[str, Any]) -> None:
    before = b_state(env)
    response = env.a.post(
        "/create-deals-bulk",
        json={
            "skip_if_exists": True,
            "deals": [
                {"title": "B order", "contact_id": b_data["contact"]["id"]},
                {"title": "B order", "contact_email": B_EMAIL},
                {"title": "B order", "contact_phone": B_PHONE},
                {"title": "B order", "contact_email": B_EMAIL, "create_contact_if_missing": True},
            ],
        },
    )
    results = response.json()["results"]
    assert [r["success"] for r in results] == [False, False, False, True]
    assert results[3]["is_new_contact"] is True
    assert results[3]["contact_id"] != b_data["contact"]["id"]
    assert results[3]["deal_id"] != b_data["deal"]["id"]
    assert b_state(env) == before


def test_import_contacts_never_merges_into_another_org(env: Env, b_data: dict[str, Any]) -> None:
    before = b_state(env)
    for skip in (False, True):
        response = env.a.post(
            "/import-contacts-bulk",
            json={
                "contacts": [{"first_name": "Mine", "emails": [B_EMAIL], "phones": [B_PHONE]}],
                "skip_duplicates": skip,
            },
        )
        row = response.json()["results"][0]
        assert row["contact_id"] != b_data["contact"]["id"]
    assert b_state(env) == before


def test_search_contacts_sees_only_its_own_org(env: Env, b_data: dict[str, Any]) -> None:
    for text in ("bee", B_EMAIL, B_PHONE):
        assert env.a.post("/search-contacts", json={"query": text}).json() == []
    assert len(env.b.post("/search-contacts", json={"query": "bee"}).json()) == 1


def test_create_lead_writes_only_into_its_own_org(env: Env, b_data: dict[str, Any]) -> None:
    before = b_state(env)
    lead = {"contact": {"emails": [B_EMAIL]}, "deal": {"title": "B order"}}
    assert env.a.post("/create-lead", json=lead).status_code == 201
    assert env.a.post("/create-leads-bulk", json={"leads": [lead]}).status_code == 200
    assert b_state(env) == before
    assert len(env.a.get("/rest-api-proxy/contacts").json()) == 2


def test_missing_or_unknown_key_is_401(env: Env) -> None:
    for key in (None, "", "cg_unknown"):
        client = env.client(key)
        for method, path in (("GET", "/rest-api-proxy/contacts"), ("POST", "/create-lead")):
            response = client.request(method, path, json={})
            assert response.status_code == 401
            assert response.json() == {"error": "Unauthorized"}


def test_dev_key_belongs_to_the_default_org(env: Env) -> None:
    create_contact(env.a, first_name="A")
    dev = env.client("cg_sandbox_dev_key")
    assert [r["first_name"] for r in dev.get("/rest-api-proxy/contacts").json()] == ["A"]


def test_taken_id_conflicts_across_orgs_without_revealing_the_row(
    env: Env, b_data: dict[str, Any]
) -> None:
    # Like PostgreSQL, ids are unique across tenants; the 409 reveals nothing of the row.
    response = env.a.post("/rest-api-proxy/contacts", json={"id": b_data["contact"]["id"]})
    assert response.status_code == 409
    assert "Bee" not in response.text
