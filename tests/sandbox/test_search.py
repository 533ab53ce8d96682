"""POST /search-contacts: case-insensitive text over names, emails and phones."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.sandbox.conftest import create_contact


@pytest.fixture
def ids(api: TestClient) -> dict[str, str]:
    return {
        "mahmoud": create_contact(
            api, first_name="Mahmoud", last_name="Ali", phones=["+201017177777"]
        )["id"],
        "noha": create_contact(api, first_name="Noha", emails=["noha.h@example.com"])["id"],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mahm", ["mahmoud"]),
        ("ALI", ["mahmoud"]),
        ("mahmoud ali", ["mahmoud"]),
        ("NOHA.H@EXAMPLE", ["noha"]),
        ("1017177", ["mahmoud"]),
        ("+2010", ["mahmoud"]),
        ("example.com", ["noha"]),
        ("o", ["mahmoud", "noha"]),
        ("zzz", []),
    ],
)
def test_search_finds_contacts_containing_the_text(
    api: TestClient, ids: dict[str, str], text: str, expected: list[str]
) -> None:
    response = api.post("/search-contacts", json={"query": text})
    assert response.status_code == 200
    by_id = {v: k for k, v in ids.items()}
    assert [by_id[row["id"]] for row in response.json()] == expected


def test_search_answers_whole_contact_objects(api: TestClient, ids: dict[str, str]) -> None:
    [row] = api.post("/search-contacts", json={"query": "noha"}).json()
    assert row["emails"] == ["noha.h@example.com"]
    assert "custom_fields" in row


def test_search_honours_limit(api: TestClient, ids: dict[str, str]) -> None:
    assert len(api.post("/search-contacts", json={"query": "o", "limit": 1}).json()) == 1


@pytest.mark.parametrize(
    "body", [{}, {"query": ""}, {"query": "  "}, {"query": "a", "limit": 0}, {"query": 5}]
)
def test_search_refuses_bad_requests(api: TestClient, body: dict[str, object]) -> None:
    response = api.post("/search-contacts", json=body)
    assert response.status_code == 400
    assert list(response.json()) == ["error"]
