"""The real postgrest-py client against a real sandbox server, as a CRM user would call it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from postgrest import APIError, CountMethod, SyncPostgrestClient

from tests.sandbox.conftest import Server


@pytest.fixture
def client(server: Server) -> Iterator[SyncPostgrestClient]:
    with SyncPostgrestClient(
        f"{server.base}/rest-api-proxy", headers={"X-API-Key": server.key}
    ) as connected:
        yield connected


@pytest.fixture
def tag(client: SyncPostgrestClient) -> Iterator[str]:
    """A source value unique to the test, and its contacts removed afterwards."""
    source = f"pgpy-{id(client)}"
    yield source
    client.from_("contacts").delete().eq("source", source).execute()


def test_bulk_insert_of_rows_with_different_keys_fills_the_gaps_with_null(
    client: SyncPostgrestClient, tag: str
) -> None:
    rows = [
        {"first_name": "Rana", "source": tag},
        {"last_name": "Fahmy", "opt_in_status": False, "source": tag},
    ]
    response = client.from_("contacts").insert(rows).execute()
    first, second = response.data
    assert (first["first_name"], first["last_name"]) == ("Rana", None)
    assert first["opt_in_status"] is None  # listed in `columns`, absent from the row: null
    assert (second["first_name"], second["last_name"]) == (None, "Fahmy")


def test_bulk_insert_with_missing_default_takes_the_column_defaults(
    client: SyncPostgrestClient, tag: str
) -> None:
    rows = [{"first_name": "Rana", "source": tag}, {"opt_in_status": False, "source": tag}]
    response = client.from_("contacts").insert(rows, default_to_null=False).execute()
    first, second = response.data
    assert first["opt_in_status"] is True  # the column's default
    assert (first["tags"], first["emails"]) == ([], [])
    assert second["opt_in_status"] is False


def test_columns_ignores_payload_keys_it_does_not_list(server: Server, tag: str) -> None:
    response = httpx.post(
        f"{server.base}/rest-api-proxy/contacts",
        params={"columns": "first_name,source"},
        json=[{"first_name": "Rana", "source": tag, "not_a_column": 1}],
        headers={"X-API-Key": server.key, "Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    assert response.json()[0]["first_name"] == "Rana"


def test_columns_naming_an_unknown_column_is_refused(server: Server) -> None:
    response = httpx.post(
        f"{server.base}/rest-api-proxy/contacts",
        params={"columns": "first_name,nickname"},
        json=[{"first_name": "Rana"}],
        headers={"X-API-Key": server.key},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST204"


def test_rows_with_different_keys_without_columns_are_refused(server: Server) -> None:
    response = httpx.post(
        f"{server.base}/rest-api-proxy/contacts",
        json=[{"first_name": "Rana"}, {"last_name": "Fahmy"}],
        headers={"X-API-Key": server.key},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"


def test_head_with_count_answers_the_total_without_rows(
    client: SyncPostgrestClient, tag: str
) -> None:
    client.from_("contacts").insert([{"source": tag}, {"source": tag}, {"source": tag}]).execute()
    response = (
        client.from_("contacts")
        .select("id", count=CountMethod.exact, head=True)
        .eq("source", tag)
        .execute()
    )
    assert response.count == 3
    assert not response.data


def test_head_is_answered_without_a_body(server: Server) -> None:
    response = httpx.head(
        f"{server.base}/rest-api-proxy/contacts", headers={"X-API-Key": server.key}
    )
    assert response.status_code == 200
    assert response.content == b""
    assert "content-range" in response.headers


def test_insert_with_exact_count_reports_the_rows_written(
    client: SyncPostgrestClient, tag: str
) -> None:
    rows = [{"source": tag}, {"source": tag}]
    response = client.from_("contacts").insert(rows, count=CountMethod.exact).execute()
    assert response.count == 2


def test_update_and_delete_with_exact_count_report_the_rows_touched(
    client: SyncPostgrestClient, tag: str
) -> None:
    client.from_("contacts").insert([{"source": tag}, {"source": tag}]).execute()
    updated = (
        client.from_("contacts")
        .update({"description": "seen"}, count=CountMethod.exact)
        .eq("source", tag)
        .execute()
    )
    assert updated.count == 2
    deleted = client.from_("contacts").delete(count=CountMethod.exact).eq("source", tag).execute()
    assert deleted.count == 2


def test_writes_report_their_range_as_postgrest_does(server: Server, tag: str) -> None:
    headers = {"X-API-Key": server.key, "Prefer": "count=exact"}
    url = f"{server.base}/rest-api-proxy/contacts"
    inserted = httpx.post(url, json=[{"source": tag}, {"source": tag}], headers=headers)
    assert inserted.headers["content-range"] == "*/2"
    updated = httpx.patch(url, params={"source": f"eq.{tag}"}, json={"tags": []}, headers=headers)
    assert updated.headers["content-range"] == "0-1/2"
    none = httpx.delete(url, params={"source": "eq.nobody"}, headers=headers)
    assert none.headers["content-range"] == "*/0"
    plain = httpx.post(url, json={"source": tag}, headers={"X-API-Key": server.key})
    assert plain.headers["content-range"] == "*/*"


def test_client_errors_carry_the_postgrest_code(client: SyncPostgrestClient) -> None:
    with pytest.raises(APIError) as raised:
        client.from_("contacts").insert({"nickname": "x"}).execute()
    assert raised.value.code == "PGRST204"
