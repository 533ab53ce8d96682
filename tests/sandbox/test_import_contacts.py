"""POST /import-contacts-bulk: matching, skip vs merge, defaults, per-row results."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.sandbox.conftest import create_contact

PATH = "/import-contacts-bulk"


def import_contacts(api: TestClient, contacts: list[Any], **options: Any) -> dict[str, Any]:
    response = api.post(PATH, json={"contacts": contacts, **options})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def contact(api: TestClient, contact_id: str) -> dict[str, Any]:
    [row] = api.get("/rest-api-proxy/contacts", params={"id": f"eq.{contact_id}"}).json()
    return dict(row)


def test_document_example_answers_documented_shape(api: TestClient) -> None:
    create_contact(api, first_name="Ahmed", emails=["ahmed@example.com"])
    body = import_contacts(
        api,
        [
            {
                "first_name": "Ahmed",
                "phones": ["+201111111111"],
                "emails": ["ahmed@example.com"],
                "tags": ["import-2026-04"],
                "custom_fields": {"city": "Cairo"},
            },
            {"first_name": "Sara", "phones": ["+201222222222"], "source": "csv-import"},
        ],
        skip_duplicates=False,
        default_tags=["batch-2026-04"],
        default_source="csv-import",
    )
    assert body["success"] is True
    assert body["summary"] == {
        "total": 2,
        "successful": 2,
        "failed": 0,
        "new_contacts": 1,
        "updated_contacts": 1,
    }
    first, second = body["results"]
    assert set(first) == {"index", "success", "contact_id", "is_new"}
    assert (first["index"], first["is_new"]) == (0, False)
    assert (second["index"], second["is_new"]) == (1, True)


def test_matches_email_before_phone(api: TestClient) -> None:
    by_phone = create_contact(api, phones=["+201017177777"])
    by_email = create_contact(api, emails=["m@example.com"])
    body = import_contacts(api, [{"phones": ["+201017177777"], "emails": ["m@example.com"]}])
    assert body["results"][0]["contact_id"] == by_email["id"]
    assert by_phone["id"] != by_email["id"]


def test_matches_any_normalised_phone(api: TestClient) -> None:
    known = create_contact(api, phones=["+201111111111", "+201017177777"])
    body = import_contacts(api, [{"phones": ["+20 101 717 7777"]}])
    assert body["results"][0] == {
        "index": 0,
        "success": True,
        "contact_id": known["id"],
        "is_new": False,
    }


def test_email_match_ignores_case(api: TestClient) -> None:
    known = create_contact(api, emails=["mahmoud@example.com"])
    body = import_contacts(api, [{"emails": ["Mahmoud@Example.COM"]}])
    assert body["results"][0]["contact_id"] == known["id"]


def test_merge_lets_non_empty_incoming_fields_win(api: TestClient) -> None:
    known = create_contact(
        api,
        first_name="Old",
        last_name="Keep",
        emails=["m@example.com"],
        tags=["a"],
        phones=["+201111111111"],
        custom_fields={"city": "Giza", "tier": "gold"},
    )
    import_contacts(
        api,
        [
            {
                "first_name": "New",
                "last_name": "",
                "emails": ["m@example.com", "second@example.com"],
                "tags": ["b", "a"],
                "phones": ["+201222222222"],
                "custom_fields": {"city": "Cairo"},
            }
        ],
    )
    merged = contact(api, known["id"])
    assert merged["first_name"] == "New"
    assert merged["last_name"] == "Keep"
    assert merged["emails"] == ["m@example.com", "second@example.com"]
    assert merged["tags"] == ["a", "b"]
    assert merged["phones"] == ["+201111111111", "+201222222222"]
    assert merged["custom_fields"] == {"city": "Cairo", "tier": "gold"}


def test_skip_duplicates_leaves_the_match_untouched(api: TestClient) -> None:
    known = create_contact(api, first_name="Old", emails=["m@example.com"])
    body = import_contacts(
        api, [{"first_name": "New", "emails": ["m@example.com"]}], skip_duplicates=True
    )
    assert body["results"] == [
        {"index": 0, "success": True, "contact_id": known["id"], "is_new": False, "skipped": True}
    ]
    assert body["summary"] == {
        "total": 1,
        "successful": 1,
        "failed": 0,
        "new_contacts": 0,
        "updated_contacts": 0,
    }
    assert contact(api, known["id"])["first_name"] == "Old"


def test_resending_the_same_payload_creates_no_duplicates(api: TestClient) -> None:
    rows = [{"emails": ["a@example.com"]}, {"phones": ["+201017177777"]}]
    first = import_contacts(api, rows)
    second = import_contacts(api, rows)
    assert second["summary"]["new_contacts"] == 0
    assert [r["contact_id"] for r in first["results"]] == [
        r["contact_id"] for r in second["results"]
    ]
    assert len(api.get("/rest-api-proxy/contacts").json()) == 2


def test_duplicates_within_one_batch_merge_into_the_first(api: TestClient) -> None:
    body = import_contacts(
        api, [{"emails": ["a@example.com"]}, {"emails": ["a@example.com"], "first_name": "A"}]
    )
    first, second = body["results"]
    assert (first["is_new"], second["is_new"]) == (True, False)
    assert first["contact_id"] == second["contact_id"]


def test_defaults_fill_only_what_the_row_leaves_empty(api: TestClient) -> None:
    body = import_contacts(
        api,
        [{"tags": ["own"], "source": "own"}, {}],
        default_tags=["batch"],
        default_source="csv",
    )
    own, bare = (contact(api, r["contact_id"]) for r in body["results"])
    assert (own["tags"], own["source"]) == (["own"], "own")
    assert (bare["tags"], bare["source"]) == (["batch"], "csv")


def test_a_bad_row_fails_alone(api: TestClient) -> None:
    body = import_contacts(
        api, [{"emails": ["a@example.com"]}, {"phones": ["abc"]}, "not an object", {}]
    )
    assert body["summary"] == {
        "total": 4,
        "successful": 2,
        "failed": 2,
        "new_contacts": 2,
        "updated_contacts": 0,
    }
    failed = body["results"][1]
    assert set(failed) == {"index", "success", "error"}
    assert (failed["index"], failed["success"]) == (1, False)
    assert body["results"][2]["success"] is False


def test_more_than_500_contacts_is_refused(api: TestClient) -> None:
    response = api.post(PATH, json={"contacts": [{}] * 501})
    assert response.status_code == 400
    assert response.json() == {"error": "Maximum batch size is 500 contacts"}
    assert api.get("/rest-api-proxy/contacts").json() == []


def test_exactly_500_contacts_is_accepted(api: TestClient) -> None:
    rows = [{"emails": [f"c{i}@example.com"]} for i in range(500)]
    assert import_contacts(api, rows)["summary"]["new_contacts"] == 500


@pytest.mark.parametrize(
    "body",
    [
        {"contacts": []},
        {"contacts": {"first_name": "A"}},
        {},
        {"contacts": [{}], "skip_duplicates": "yes"},
        {"contacts": [{}], "default_tags": "vip"},
    ],
)
def test_malformed_request_is_400(api: TestClient, body: dict[str, Any]) -> None:
    response = api.post(PATH, json=body)
    assert response.status_code == 400
    assert list(response.json()) == ["error"]


def test_non_json_body_is_400(api: TestClient) -> None:
    response = api.post(PATH, content=b"contacts=1")
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid JSON body"}
