"""Simultaneous calls: no duplicate contacts, no lost updates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.sandbox.conftest import Env, create_contact


def test_simultaneous_bulk_calls_create_one_contact_per_email(env: Env) -> None:
    deals = [
        {
            "title": f"Order #{i}",
            "contact_email": f"c{i % 5}@example.com",
            "create_contact_if_missing": True,
        }
        for i in range(50)
    ]

    def send(_: int) -> Any:
        return env.a.post("/create-deals-bulk", json={"deals": deals, "skip_if_exists": True})

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(send, range(6)))
    assert all(r.status_code == 200 for r in responses)
    assert len(env.a.get("/rest-api-proxy/contacts").json()) == 5
    assert len(env.a.get("/rest-api-proxy/deals").json()) == 50
    created = sum(r.json()["summary"]["new_deals"] for r in responses)
    assert created == 50


def test_simultaneous_imports_of_one_email_merge_into_one_contact(env: Env) -> None:
    def send(i: int) -> Any:
        row = {"emails": ["same@example.com"], "tags": [f"t{i}"]}
        return env.a.post("/import-contacts-bulk", json={"contacts": [row]})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, range(16)))
    [contact] = env.a.get("/rest-api-proxy/contacts").json()
    assert sorted(contact["tags"]) == sorted(f"t{i}" for i in range(16))


def test_simultaneous_patches_lose_no_update(env: Env) -> None:
    rows = [create_contact(env.a) for _ in range(20)]

    def send(row: dict[str, Any]) -> int:
        response = env.a.patch(
            "/rest-api-proxy/contacts", params={"id": f"eq.{row['id']}"}, json={"first_name": "P"}
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(send, rows)) == {204}
    names = {r["first_name"] for r in env.a.get("/rest-api-proxy/contacts").json()}
    assert names == {"P"}
