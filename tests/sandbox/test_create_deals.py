"""POST /create-deals-bulk: contact resolution, skip_if_exists, defaults, per-row results."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.sandbox.conftest import Env, create_contact, create_deal

PATH = "/create-deals-bulk"
MISSING = "00000000-0000-4000-8000-000000000000"


def bulk(api: TestClient, deals: list[Any], **options: Any) -> dict[str, Any]:
    response = api.post(PATH, json={"deals": deals, **options})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def deal(api: TestClient, deal_id: str) -> dict[str, Any]:
    [row] = api.get("/rest-api-proxy/deals", params={"id": f"eq.{deal_id}"}).json()
    return dict(row)


def test_document_example_answers_documented_shape(api: TestClient) -> None:
    known = create_contact(api, first_name="Mahmoud", phones=["+201017177777"])
    body = bulk(
        api,
        [
            {
                "title": "Order #68297792",
                "value": 11523,
                "contact_phone": "+201017177777",
                "contact_first_name": "Mahmoud",
                "create_contact_if_missing": True,
                "custom_fields": {"order_id": "68297792"},
            },
            {
                "title": "Order #68297793",
                "value": 540,
                "contact_email": "noha@example.com",
                "contact_first_name": "Noha",
                "create_contact_if_missing": True,
            },
        ],
        default_currency="SAR",
        default_stage="qualified",
        skip_if_exists=True,
    )
    assert body["success"] is True
    assert body["summary"] == {
        "total": 2,
        "successful": 2,
        "failed": 0,
        "new_deals": 2,
        "skipped_existing": 0,
        "new_contacts_created": 1,
    }
    first, second = body["results"]
    assert set(first) == {"index", "success", "deal_id", "contact_id", "is_new_contact"}
    assert (first["contact_id"], first["is_new_contact"]) == (known["id"], False)
    assert (second["index"], second["is_new_contact"]) == (1, True)
    stored = deal(api, first["deal_id"])
    assert (stored["currency"], stored["stage"], stored["value"]) == ("SAR", "qualified", 11523)


def test_resolution_prefers_contact_id_then_email_then_phone(api: TestClient) -> None:
    by_id = create_contact(api)
    by_email = create_contact(api, emails=["e@example.com"])
    by_phone = create_contact(api, phones=["+201017177777"])
    body = bulk(
        api,
        [
            {"title": "1", "contact_id": by_id["id"], "contact_email": "e@example.com"},
            {"title": "2", "contact_email": "e@example.com", "contact_phone": "+201017177777"},
            {"title": "3", "contact_phone": "+20 101 717 7777"},
            {"title": "4", "contact_id": MISSING, "contact_email": "E@example.com"},
        ],
    )
    assert [r["contact_id"] for r in body["results"]] == [
        by_id["id"],
        by_email["id"],
        by_phone["id"],
        by_email["id"],
    ]


def test_linking_never_updates_the_contact(api: TestClient) -> None:
    known = create_contact(api, first_name="Original", emails=["e@example.com"])
    bulk(
        api,
        [
            {
                "title": "T",
                "contact_email": "e@example.com",
                "contact_first_name": "Changed",
                "contact_phone": "+201017177777",
            }
        ],
    )
    [row] = api.get("/rest-api-proxy/contacts").json()
    assert row == known


def test_missing_contact_without_create_fails_the_row(api: TestClient) -> None:
    body = bulk(api, [{"title": "T", "contact_email": "nobody@example.com"}])
    assert body["results"] == [{"index": 0, "success": False, "error": "Contact not found"}]
    assert body["summary"]["failed"] == 1


def test_create_contact_if_missing_provisions_the_contact(api: TestClient) -> None:
    body = bulk(
        api,
        [
            {
                "title": "T",
                "contact_phone": "00201017177777",
                "contact_first_name": "Mahmoud",
                "contact_last_name": "Ali",
                "create_contact_if_missing": True,
            }
        ],
    )
    [row] = api.get("/rest-api-proxy/contacts").json()
    assert row["id"] == body["results"][0]["contact_id"]
    # The document's warning: a 00 prefix is not converted, it only gets a "+".
    assert (row["first_name"], row["last_name"], row["phones"]) == (
        "Mahmoud",
        "Ali",
        ["+00201017177777"],
    )


def test_skip_if_exists_returns_the_existing_deal(api: TestClient) -> None:
    known = create_contact(api, emails=["e@example.com"])
    existing = create_deal(api, title="Order #1", contact_id=known["id"])
    body = bulk(api, [{"title": "Order #1", "contact_email": "e@example.com"}], skip_if_exists=True)
    assert body["results"] == [
        {
            "index": 0,
            "success": True,
            "deal_id": existing["id"],
            "contact_id": known["id"],
            "is_new_contact": False,
            "skipped": True,
        }
    ]
    assert body["summary"]["skipped_existing"] == 1
    assert body["summary"]["new_deals"] == 0


def test_without_skip_if_exists_the_same_title_is_created_again(api: TestClient) -> None:
    known = create_contact(api)
    rows = [{"title": "Order #1", "contact_id": known["id"]}]
    bulk(api, rows)
    bulk(api, rows)
    assert len(api.get("/rest-api-proxy/deals").json()) == 2


def test_rerunning_with_skip_if_exists_is_idempotent(api: TestClient) -> None:
    rows = [
        {
            "title": f"Order #{i}",
            "contact_email": f"c{i}@example.com",
            "create_contact_if_missing": True,
        }
        for i in range(5)
    ]
    first = bulk(api, rows, skip_if_exists=True)
    second = bulk(api, rows, skip_if_exists=True)
    assert second["summary"]["skipped_existing"] == 5
    assert second["summary"]["new_contacts_created"] == 0
    assert [r["deal_id"] for r in first["results"]] == [r["deal_id"] for r in second["results"]]
    assert len(api.get("/rest-api-proxy/deals").json()) == 5


def test_same_title_for_another_contact_is_not_a_duplicate(api: TestClient) -> None:
    one, two = create_contact(api), create_contact(api)
    create_deal(api, title="Order #1", contact_id=one["id"])
    body = bulk(api, [{"title": "Order #1", "contact_id": two["id"]}], skip_if_exists=True)
    assert "skipped" not in body["results"][0]


def test_row_values_override_defaults(api: TestClient) -> None:
    known = create_contact(api)
    body = bulk(
        api,
        [{"title": "T", "contact_id": known["id"], "currency": "EUR", "stage": "won"}],
        default_currency="SAR",
        default_stage="qualified",
    )
    stored = deal(api, body["results"][0]["deal_id"])
    assert (stored["currency"], stored["stage"]) == ("EUR", "won")


def test_no_defaults_give_usd_and_first_stage(api: TestClient) -> None:
    known = create_contact(api)
    body = bulk(api, [{"title": "T", "contact_id": known["id"]}])
    stored = deal(api, body["results"][0]["deal_id"])
    assert (stored["currency"], stored["stage"]) == ("USD", "new")


def test_default_pipeline_id_must_exist(api: TestClient) -> None:
    known = create_contact(api)
    response = api.post(
        PATH,
        json={"deals": [{"title": "T", "contact_id": known["id"]}], "default_pipeline_id": MISSING},
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("No pipeline found")


def test_default_pipeline_id_of_the_org_is_used(env: Env, api: TestClient) -> None:
    pipeline = env.sandbox.ensure_default_org([]).pipeline_id
    known = create_contact(api)
    body = bulk(api, [{"title": "T", "contact_id": known["id"]}], default_pipeline_id=pipeline)
    assert deal(api, body["results"][0]["deal_id"])["pipeline_id"] == pipeline


ROW_ERRORS = [
    ({"value": 1, "contact_id": "C"}, "title is required"),
    ({"title": "T"}, "contact_id, contact_email or contact_phone is required"),
    ({"title": "T", "contact_email": "nope", "create_contact_if_missing": True}, None),
    ({"title": "T", "contact_phone": "abc", "create_contact_if_missing": True}, None),
    ({"title": "T", "contact_id": "C", "value": -5}, "value must be a number >= 0"),
    ({"title": "T", "contact_id": "C", "stage": "closed"}, None),
    ({"title": "T", "contact_id": "C", "pipeline_id": MISSING}, None),
    ({"title": "T", "contact_id": MISSING}, "Contact not found"),
    ({"title": "T", "contact_id": "C", "create_contact_if_missing": "yes"}, None),
]


@pytest.mark.parametrize(("row", "message"), ROW_ERRORS, ids=[str(i) for i in range(9)])
def test_bad_row_fails_alone(api: TestClient, row: dict[str, Any], message: str | None) -> None:
    known = create_contact(api)
    if row.get("contact_id") == "C":
        row = {**row, "contact_id": known["id"]}
    body = bulk(api, [{"title": "good", "contact_id": known["id"]}, row])
    good, bad = body["results"]
    assert good["success"] is True
    assert set(bad) == {"index", "success", "error"}
    assert (bad["index"], bad["success"]) == (1, False)
    if message is not None:
        assert bad["error"] == message
    assert body["summary"]["failed"] == 1
    assert len(api.get("/rest-api-proxy/contacts").json()) == 1


def test_uppercase_default_stage_is_stored_as_sent(api: TestClient) -> None:
    known = create_contact(api)
    body = bulk(api, [{"title": "T", "contact_id": known["id"]}], default_stage="QUALIFIED")
    assert deal(api, body["results"][0]["deal_id"])["stage"] == "QUALIFIED"


def test_more_than_100_deals_is_refused(api: TestClient) -> None:
    response = api.post(PATH, json={"deals": [{"title": "T"}] * 101})
    assert response.status_code == 400
    assert response.json() == {"error": "Maximum batch size is 100 deals"}


def test_exactly_100_deals_is_accepted(api: TestClient) -> None:
    rows = [
        {
            "title": f"Order #{i}",
            "contact_email": f"c{i}@example.com",
            "create_contact_if_missing": True,
        }
        for i in range(100)
    ]
    assert bulk(api, rows)["summary"]["new_deals"] == 100
