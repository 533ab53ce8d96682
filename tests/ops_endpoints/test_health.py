"""`/healthz` says the process answers; `/readyz` that Redis answers and a worker is alive."""

from __future__ import annotations

import httpx
import redis

from adapter.ops import create_served_app
from adapter.redis_safety import evicting_message, no_aof_message
from tests.ops_endpoints.support import run_app, settings
from tests.support.processes import free_port
from workers.status import beat


async def _get_healthz(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/healthz")


async def _get_readyz(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/readyz")


def test_healthz_answers_ok(redis_url: str) -> None:
    response = run_app(create_served_app(settings(redis_url)), _get_healthz)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_healthz_answers_even_when_redis_is_down() -> None:
    app = create_served_app(settings(f"redis://127.0.0.1:{free_port()}/0"))
    assert run_app(app, _get_healthz).status_code == 200


def test_readyz_fails_without_a_worker_heartbeat(redis_url: str) -> None:
    response = run_app(create_served_app(settings(redis_url)), _get_readyz)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["redis"] == "ok"
    assert "no heartbeat" in body["checks"]["workers"]


def test_readyz_passes_with_redis_and_a_live_worker(
    redis_url: str, text_redis: redis.Redis
) -> None:
    beat(text_redis, "worker-1", ["outbox", "deliveries"])
    response = run_app(create_served_app(settings(redis_url)), _get_readyz)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {
            "redis": "ok",
            "redis_durability": "ok",
            "redis_writes": "ok",
            "workers": "ok (1 alive)",
        },
    }


def _readyz_with_redis_config(
    redis_url: str, text_redis: redis.Redis, name: str, value: str
) -> httpx.Response:
    """/readyz, with a live worker, while the Redis setting `name` is `value`."""
    beat(text_redis, "worker-1", ["outbox", "deliveries"])
    before = text_redis.config_get(name)[name]
    text_redis.config_set(name, value)
    try:
        return run_app(create_served_app(settings(redis_url)), _get_readyz)
    finally:
        text_redis.config_set(name, before)


def test_readyz_is_not_ready_on_an_evicting_redis_and_says_what_to_set(
    redis_url: str, text_redis: redis.Redis
) -> None:
    response = _readyz_with_redis_config(redis_url, text_redis, "maxmemory-policy", "allkeys-lru")
    assert response.status_code == 503
    assert response.json()["checks"]["redis_durability"] == evicting_message("allkeys-lru")


def test_readyz_stays_ready_without_aof_and_shows_the_warning(
    redis_url: str, text_redis: redis.Redis
) -> None:
    response = _readyz_with_redis_config(redis_url, text_redis, "appendonly", "no")
    assert response.status_code == 200
    assert response.json()["checks"]["redis_durability"] == f"ok, but: {no_aof_message()}"


def test_readyz_is_not_ready_while_redis_is_full_and_says_the_workers_wait(
    redis_url: str, text_redis: redis.Redis
) -> None:
    response = _readyz_with_redis_config(redis_url, text_redis, "maxmemory", "1")
    assert response.status_code == 503
    writes = response.json()["checks"]["redis_writes"]
    assert writes.startswith("refused: Redis is full (maxmemory reached with noeviction)")
    assert "the workers wait" in writes


def test_readyz_names_redis_when_it_is_unreachable() -> None:
    app = create_served_app(settings(f"redis://127.0.0.1:{free_port()}/0"))
    response = run_app(app, _get_readyz)
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "unreachable"
