"""Injected faults: each mode, deterministic under a seed, set by flags or /_sandbox/faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_sandbox.faults import FaultInjector, FaultSettings, FaultSettingsError
from tests.sandbox.conftest import Env, make_env

INJECTED = {"error": "Internal server error", "details": "injected fault"}
LEAD = {"contact": {"first_name": "F"}, "deal": {"title": "T"}}


@pytest.fixture
def faulty() -> Iterator[Env]:
    built = make_env()
    yield built
    built.sandbox.store.close()


def set_faults(env: Env, **settings: float) -> dict[str, float]:
    response = env.control.post("/faults", json=settings)
    assert response.status_code == 200, response.text
    body: dict[str, float] = response.json()
    return body


def contact_count(env: Env) -> int:
    env.sandbox.faults.configure(FaultSettings())
    return len(env.a.get("/rest-api-proxy/contacts").json())


def test_error_before_answers_500_and_writes_nothing(faulty: Env) -> None:
    set_faults(faulty, error_before=1.0)
    response = faulty.a.post("/create-lead", json=LEAD)
    assert response.status_code == 500
    assert response.json() == INJECTED
    assert contact_count(faulty) == 0


def test_error_after_answers_500_but_the_write_is_committed(faulty: Env) -> None:
    set_faults(faulty, error_after=1.0)
    response = faulty.a.post("/create-lead", json=LEAD)
    assert response.status_code == 500
    assert response.json() == INJECTED
    assert contact_count(faulty) == 1


def test_rate_limit_fault_answers_429_with_retry_after_1(faulty: Env) -> None:
    set_faults(faulty, rate_limit=1.0)
    response = faulty.a.post("/create-lead", json=LEAD)
    assert response.status_code == 429
    assert response.json() == {"error": "rate limit"}
    assert response.headers["Retry-After"] == "1"
    assert contact_count(faulty) == 0


def test_hang_commits_then_holds_the_answer(faulty: Env) -> None:
    set_faults(faulty, hang=1.0, hang_seconds=30)
    response = faulty.a.post("/create-lead", json=LEAD)
    assert response.status_code == 201
    assert faulty.sleeps.seconds == [30]
    assert contact_count(faulty) == 1


def test_latency_delays_every_request(faulty: Env) -> None:
    set_faults(faulty, latency_ms=250)
    faulty.a.get("/rest-api-proxy/contacts")
    faulty.a.get("/rest-api-proxy/deals")
    assert faulty.sleeps.seconds == [0.25, 0.25]


def test_faults_are_counted_in_stats(faulty: Env) -> None:
    set_faults(faulty, error_after=1.0)
    faulty.a.post("/create-lead", json=LEAD)
    stats = faulty.control.get("/stats").json()
    assert stats["faults"] == {"error_before": 0, "error_after": 1, "rate_limit": 0, "hang": 0}
    assert stats["requests"]["POST /create-lead"] == {"500": 1}


def statuses(env: Env, seed: int, count: int = 40) -> list[int]:
    env.sandbox.reset()
    set_faults(env, seed=seed, error_before=0.2, error_after=0.2, rate_limit=0.2)
    return [env.a.get("/rest-api-proxy/contacts").status_code for _ in range(count)]


def test_the_same_seed_gives_the_same_faults(faulty: Env) -> None:
    first = statuses(faulty, seed=7)
    assert statuses(faulty, seed=7) == first
    assert {200, 429, 500} <= set(first)
    assert statuses(faulty, seed=8) != first


def test_fractions_are_honoured_over_many_draws() -> None:
    injector = FaultInjector(FaultSettings(seed=1, error_before=0.1, hang=0.3))
    draws = [injector.draw() for _ in range(10_000)]
    assert 800 < draws.count("error_before") < 1200
    assert 2700 < draws.count("hang") < 3300
    assert draws.count("error_after") == 0


def test_settings_round_trip_through_get(faulty: Env) -> None:
    posted = set_faults(faulty, seed=3, error_after=0.5, hang_seconds=5)
    assert faulty.control.get("/faults").json() == posted
    assert posted == {
        "seed": 3,
        "error_before": 0.0,
        "error_after": 0.5,
        "rate_limit": 0.0,
        "hang": 0.0,
        "hang_seconds": 5,
        "latency_ms": 0.0,
    }


@pytest.mark.parametrize(
    "settings",
    [{"error_before": 1.5}, {"error_before": 0.6, "hang": 0.6}, {"surprise": 1}, {"hang": "x"}],
)
def test_bad_settings_are_refused(faulty: Env, settings: dict[str, object]) -> None:
    response = faulty.control.post("/faults", json=settings)
    assert response.status_code == 400
    assert "error" in response.json()


def test_settings_from_constructor_apply_from_the_first_request() -> None:
    built = make_env(faults=FaultSettings(error_before=1.0))
    assert built.a.get("/rest-api-proxy/contacts").status_code == 500
    built.sandbox.store.close()


def test_fault_settings_validate_their_fractions() -> None:
    with pytest.raises(FaultSettingsError):
        FaultSettings(rate_limit=-0.1)
