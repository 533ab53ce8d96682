"""120 requests a minute per key, as a sliding window log; 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_sandbox.ratelimit import SlidingWindowLimiter
from tests.sandbox.conftest import KEY_A, Env, make_env


def test_admits_up_to_the_limit_within_a_minute() -> None:
    limiter = SlidingWindowLimiter(3)
    assert [limiter.admit("k", t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    assert limiter.admit("k", 3.0) == 57


def test_a_slot_frees_sixty_seconds_after_its_admission() -> None:
    limiter = SlidingWindowLimiter(2)
    limiter.admit("k", 0.0)
    limiter.admit("k", 10.0)
    assert limiter.admit("k", 59.5) == 1
    assert limiter.admit("k", 60.0) is None
    assert limiter.admit("k", 60.5) == 10


def test_refused_requests_are_not_counted() -> None:
    limiter = SlidingWindowLimiter(1)
    limiter.admit("k", 0.0)
    for t in range(1, 60):
        assert limiter.admit("k", float(t)) is not None
    assert limiter.admit("k", 60.0) is None


def test_keys_have_their_own_windows() -> None:
    limiter = SlidingWindowLimiter(1)
    assert limiter.admit("a", 0.0) is None
    assert limiter.admit("b", 0.0) is None
    assert limiter.admit("a", 0.0) == 60


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    limiter = SlidingWindowLimiter(1)
    limiter.admit("k", 0.25)
    assert limiter.admit("k", 1.0) == 60


def test_zero_turns_the_limit_off() -> None:
    limiter = SlidingWindowLimiter(0)
    assert all(limiter.admit("k", 0.0) is None for _ in range(1000))


@pytest.fixture
def limited() -> Iterator[Env]:
    built = make_env(rate_limit=3)
    yield built
    built.sandbox.store.close()


def test_api_answers_429_with_retry_after(limited: Env) -> None:
    for _ in range(3):
        assert limited.a.get("/rest-api-proxy/contacts").status_code == 200
    limited.clock.now += 20
    response = limited.a.get("/rest-api-proxy/contacts")
    assert response.status_code == 429
    assert response.json() == {"error": "rate limit"}
    assert response.headers["Retry-After"] == "40"
    limited.clock.now += 40
    assert limited.a.get("/rest-api-proxy/contacts").status_code == 200


def test_a_bulk_call_counts_once(limited: Env) -> None:
    deals = [{"title": f"T{i}", "contact_email": f"c{i}@example.com"} for i in range(100)]
    for _ in range(3):
        assert limited.a.post("/create-deals-bulk", json={"deals": deals}).status_code == 200
    assert limited.a.post("/create-deals-bulk", json={"deals": deals}).status_code == 429


def test_the_limit_is_per_key(limited: Env) -> None:
    for _ in range(3):
        limited.a.get("/rest-api-proxy/contacts")
    assert limited.a.get("/rest-api-proxy/contacts").status_code == 429
    assert limited.b.get("/rest-api-proxy/contacts").status_code == 200
    limited.sandbox.ensure_default_org(["cg_second_key_of_a"])
    # Per key, not per organisation.
    assert limited.client("cg_second_key_of_a").get("/rest-api-proxy/contacts").status_code == 200


def test_control_endpoints_are_never_limited_or_counted(limited: Env) -> None:
    for _ in range(10):
        assert limited.control.get("/stats").status_code == 200
    for _ in range(3):
        assert limited.a.get("/rest-api-proxy/contacts").status_code == 200
    stats = limited.control.get("/stats").json()
    assert stats["total_requests"] == 3
    assert stats["rate_limited"] == 0


def test_rate_limited_requests_are_counted_in_stats(limited: Env) -> None:
    for _ in range(5):
        limited.a.get("/rest-api-proxy/contacts")
    stats = limited.control.get("/stats").json()
    assert stats["rate_limited"] == 2
    assert stats["requests"]["GET /rest-api-proxy/contacts"] == {"200": 3, "429": 2}


def test_unauthorised_requests_do_not_use_the_budget(limited: Env) -> None:
    intruder = limited.client("cg_unknown")
    for _ in range(10):
        assert intruder.get("/rest-api-proxy/contacts").status_code == 401
    assert limited.a.get("/rest-api-proxy/contacts").status_code == 200


def test_default_limit_is_120_a_minute() -> None:
    built = make_env(rate_limit=120)
    client = built.client(KEY_A)
    statuses = [client.get("/rest-api-proxy/contacts").status_code for _ in range(121)]
    assert statuses.count(200) == 120
    assert statuses[-1] == 429
    built.sandbox.store.close()
