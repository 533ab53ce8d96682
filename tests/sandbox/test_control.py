"""/_sandbox: organisations, reset, stats and the request log."""

from __future__ import annotations

from tests.sandbox.conftest import API, KEY_A, KEY_B, Env, create_contact


def test_create_org_answers_key_pipeline_and_stages(env: Env) -> None:
    response = env.control.post("/orgs", json={"name": "Acme", "api_key": "cg_acme"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"org_id", "api_key", "pipeline_id", "stages"}
    assert body["api_key"] == "cg_acme"
    assert body["stages"] == ["new", "qualified", "proposal", "won", "lost"]
    acme = env.client("cg_acme")
    contact = create_contact(acme)
    deal = acme.post(
        "/rest-api-proxy/deals",
        json={"title": "T", "contact_id": contact["id"]},
        headers={"Prefer": "return=representation"},
    ).json()[0]
    assert deal["pipeline_id"] == body["pipeline_id"]


def test_create_org_generates_a_key_when_none_is_given(env: Env) -> None:
    body = env.control.post("/orgs", json={"name": "Gen"}).json()
    assert body["api_key"].startswith("cg_")
    assert env.client(body["api_key"]).get("/rest-api-proxy/contacts").status_code == 200


def test_create_org_refuses_a_taken_key(env: Env) -> None:
    env.control.post("/orgs", json={"name": "One", "api_key": "cg_same"})
    response = env.control.post("/orgs", json={"name": "Two", "api_key": "cg_same"})
    assert response.status_code == 409


def test_reset_clears_data_stats_and_faults_but_keeps_keys(env: Env) -> None:
    create_contact(env.a)
    env.control.post("/faults", json={"latency_ms": 5})
    assert env.control.post("/reset").status_code == 204
    assert env.control.get("/stats").json()["total_requests"] == 0
    assert env.control.get("/faults").json()["latency_ms"] == 0
    assert env.a.get("/rest-api-proxy/contacts").json() == []
    assert env.b.get("/rest-api-proxy/contacts").status_code == 200


def test_stats_count_requests_by_path_and_status_and_bulk_rows(env: Env) -> None:
    env.a.post(
        "/create-deals-bulk", json={"deals": [{"title": "T", "contact_email": "a@b.co"}] * 3}
    )
    env.a.post("/create-deals-bulk", json={"deals": [{"title": "T"}] * 101})
    env.a.post("/import-contacts-bulk", json={"contacts": [{}, {}]})
    env.a.post("/create-leads-bulk", json={"leads": [{"contact": {}, "deal": {"title": "x"}}]})
    env.a.get("/rest-api-proxy/contacts", params={"id": "eq.nope"})
    env.client("bad").get("/rest-api-proxy/deals")
    stats = env.control.get("/stats").json()
    stats.pop("orgs")
    assert stats == {
        "requests": {
            "POST /create-deals-bulk": {"200": 1, "400": 1},
            "POST /import-contacts-bulk": {"200": 1},
            "POST /create-leads-bulk": {"200": 1},
            "GET /rest-api-proxy/contacts": {"400": 1},
            "GET /rest-api-proxy/deals": {"401": 1},
        },
        "bulk_rows": {
            "/create-deals-bulk": [3, 101],
            "/import-contacts-bulk": [2],
            "/create-leads-bulk": [1],
        },
        "rate_limited": 0,
        "faults": {"error_before": 0, "error_after": 0, "rate_limit": 0, "hang": 0},
        "total_requests": 6,
    }


def test_the_request_log_lists_each_request_with_its_query_and_bulk_rows(env: Env) -> None:
    env.a.post(
        "/create-deals-bulk", json={"deals": [{"title": "T", "contact_email": "a@b.co"}] * 2}
    )
    env.a.get("/rest-api-proxy/deals", params={"select": "id", "title": "eq.T"})
    logged = env.control.get("/requests").json()["requests"]
    assert [(r["n"], r["method"], r["path"], r["status"], r["rows"]) for r in logged] == [
        (1, "POST", "/create-deals-bulk", 200, 2),
        (2, "GET", "/rest-api-proxy/deals", 200, None),
    ]
    assert logged[1]["query"] == "select=id&title=eq.T"
    assert [r["n"] for r in env.control.get("/requests?after=1").json()["requests"]] == [2]
    env.control.post("/reset")
    assert env.control.get("/requests").json()["requests"] == []


def test_stats_split_requests_by_the_organisation_their_key_reached(env: Env) -> None:
    org_a = env.sandbox.org_for_key(KEY_A)
    org_b = env.sandbox.org_for_key(KEY_B)
    env.a.get("/rest-api-proxy/contacts")
    env.a.get("/rest-api-proxy/contacts")
    env.b.post("/import-contacts-bulk", json={"contacts": [{"emails": ["b@b.co"]}]})
    env.client("bad").get("/rest-api-proxy/deals")
    orgs = env.control.get("/stats").json()["orgs"]
    assert orgs == {
        org_a: {"GET /rest-api-proxy/contacts": {"200": 2}},
        org_b: {"POST /import-contacts-bulk": {"200": 1}},
    }


def test_a_revoked_key_is_refused_until_it_is_given_back(env: Env) -> None:
    org_a = env.sandbox.org_for_key(KEY_A)
    response = env.control.post("/keys/revoke", json={"api_key": KEY_A})
    assert response.status_code == 200
    assert response.json() == {"org_id": org_a, "revoked": True}
    assert env.a.get("/rest-api-proxy/contacts").status_code == 401
    assert env.b.get("/rest-api-proxy/contacts").status_code == 200
    restored = env.control.post(f"/orgs/{org_a}/keys", json={"api_key": KEY_A})
    assert restored.status_code == 201
    assert env.a.get("/rest-api-proxy/contacts").status_code == 200


def test_revoking_an_unknown_key_is_a_404(env: Env) -> None:
    assert env.control.post("/keys/revoke", json={"api_key": "nope"}).status_code == 404
    assert env.control.post("/keys/revoke", json={}).status_code == 400


def test_a_key_of_another_organisation_cannot_be_added(env: Env) -> None:
    org_a = env.sandbox.org_for_key(KEY_A)
    assert env.control.post(f"/orgs/{org_a}/keys", json={"api_key": KEY_B}).status_code == 409
    assert env.control.post("/orgs/nope/keys", json={"api_key": "cg_x"}).status_code == 404


def test_health_answers_ok(env: Env) -> None:
    assert env.control.get("/health").json() == {"status": "ok"}


def test_production_paths_live_under_functions_v1(env: Env) -> None:
    assert API.endswith("/functions/v1")
    outside = env.client(None)
    assert outside.get("http://sandbox.test/rest-api-proxy/contacts").status_code == 404
