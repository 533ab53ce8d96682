"""POST /create-lead and /create-leads-bulk: a new contact and deal every time."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

LEAD = {
    "contact": {"first_name": "Noha", "emails": ["noha@example.com"]},
    "deal": {"title": "Website enquiry", "value": 100},
}


def test_create_lead_answers_201_with_ids(api: TestClient) -> None:
    response = api.post("/create-lead", json=LEAD)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"success", "contact_id", "deal_id", "is_new_contact"}
    assert body["success"] is True
    assert body["is_new_contact"] is True
    [deal] = api.get("/rest-api-proxy/deals").json()
    assert (deal["id"], deal["contact_id"]) == (body["deal_id"], body["contact_id"])
    assert (deal["stage"], deal["currency"]) == ("new", "USD")


def test_create_lead_does_no_dedupe(api: TestClient) -> None:
    first = api.post("/create-lead", json=LEAD).json()
    second = api.post("/create-lead", json=LEAD).json()
    assert first["contact_id"] != second["contact_id"]
    assert len(api.get("/rest-api-proxy/contacts").json()) == 2


def test_create_lead_ignores_a_deal_contact_id(api: TestClient) -> None:
    lead = {**LEAD, "deal": {"title": "T", "contact_id": "00000000-0000-4000-8000-000000000000"}}
    body = api.post("/create-lead", json=lead).json()
    [deal] = api.get("/rest-api-proxy/deals").json()
    assert deal["contact_id"] == body["contact_id"]


@pytest.mark.parametrize(
    ("lead", "error"),
    [
        ({"contact": {}, "deal": {}}, "title is required"),
        ({"contact": {}}, "deal is required"),
        ({"deal": {"title": "T"}}, "contact is required"),
        ({"contact": {"emails": ["bad"]}, "deal": {"title": "T"}}, None),
        ({"contact": {}, "deal": {"title": "T", "stage": "closed"}}, None),
    ],
)
def test_create_lead_refuses_bad_input_and_writes_nothing(
    api: TestClient, lead: dict[str, Any], error: str | None
) -> None:
    response = api.post("/create-lead", json=lead)
    assert response.status_code == 400
    if error is not None:
        assert response.json() == {"error": error}
    assert api.get("/rest-api-proxy/contacts").json() == []


def test_create_leads_bulk_answers_summary_and_rows(api: TestClient) -> None:
    response = api.post(
        "/create-leads-bulk",
        json={"leads": [LEAD, {"contact": {}, "deal": {}}, LEAD], "default_stage": "qualified"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["summary"] == {
        "total": 3,
        "successful": 2,
        "failed": 1,
        "new_contacts": 2,
        "new_deals": 2,
    }
    ok, bad, _ = body["results"]
    assert set(ok) == {"index", "success", "contact_id", "deal_id"}
    assert bad == {"index": 1, "success": False, "error": "title is required"}
    stages = {d["stage"] for d in api.get("/rest-api-proxy/deals").json()}
    assert stages == {"qualified"}


def test_create_leads_bulk_applies_default_currency(api: TestClient) -> None:
    api.post("/create-leads-bulk", json={"leads": [LEAD], "default_currency": "EGP"})
    assert api.get("/rest-api-proxy/deals").json()[0]["currency"] == "EGP"


def test_more_than_100_leads_is_refused(api: TestClient) -> None:
    response = api.post("/create-leads-bulk", json={"leads": [LEAD] * 101})
    assert response.status_code == 400
    assert response.json() == {"error": "Maximum batch size is 100 leads"}
