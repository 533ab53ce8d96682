"""`adapter serve` and several worker processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from adapter.cli.failures import EXIT_CONFIG
from adapter.ledger import Ledger
from tests.app.conftest import CONFIG, Server, server_env, start_server
from tests.app.signing import shopify_headers
from tests.support.processes import Process, adapter_command, free_port

pytestmark = pytest.mark.slow

BODY = b'{"id": 1, "email": "ada@example.com"}'
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(redis_url: str, tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "adapter.toml"
    config.write_text(CONFIG)
    port = free_port()
    argv = adapter_command("serve", "--port", str(port), "--config", str(config))
    env = server_env(redis_url, config)
    del env["ADAPTER_CONFIG"]
    process = Process(argv, port, env=env, log_path=tmp_path / "serve.log", cwd=ROOT).start()
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_serve_runs_the_webhook_app(served: str) -> None:
    with httpx.Client(base_url=served) as http:
        unsigned = http.post("/webhooks/shopify", content=BODY)
        unknown = http.post("/webhooks/paypal", content=BODY)
    assert unsigned.status_code == 401
    assert unknown.status_code == 404


def test_serve_decides_ignored_topics_by_the_mapping(served: str, redis_url: str) -> None:
    with httpx.Client(base_url=served) as http:
        handled = http.post(
            "/webhooks/shopify", content=BODY, headers=shopify_headers(BODY, "orders/create")
        )
        unhandled = http.post(
            "/webhooks/shopify", content=BODY, headers=shopify_headers(BODY, "themes/publish")
        )
    assert (handled.status_code, handled.json()) == (202, {"status": "queued"})
    assert unhandled.status_code == 200
    assert unhandled.json()["status"] == "ignored"
    assert unhandled.json()["reason"]
    store = redis.Redis.from_url(redis_url)
    assert Ledger(store).count() == 1
    store.close()


def test_serve_refuses_invalid_settings_without_echoing_secrets(
    redis_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "adapter.toml"
    config.write_text(
        '[forms.bad.auth]\nkind = "standard_webhooks"\nsecrets = ["whsec_#topsecret#"]\n'
    )
    env = {**server_env(redis_url, config), "STRIPE_TOLERANCE_SECONDS": "300"}
    result = subprocess.run(
        adapter_command("serve", "--port", str(free_port())),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_CONFIG
    assert "invalid configuration" in result.stderr
    assert "forms" in result.stderr
    assert "topsecret" not in result.stderr + result.stdout


@pytest.fixture
def two_workers(redis_url: str, tmp_path: Path) -> Iterator[Server]:
    running = start_server(redis_url, tmp_path, "--workers", "2")
    yield running
    running.process.stop()


def test_fifty_concurrent_posts_across_two_processes_make_one_job(
    two_workers: Server, redis_url: str
) -> None:
    headers = shopify_headers(BODY, webhook_id="wh-across")

    async def storm() -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=two_workers.url, limits=limits, timeout=20) as client:
            responses = await asyncio.gather(
                *(
                    client.post("/webhooks/shopify", content=BODY, headers=headers)
                    for _ in range(50)
                )
            )
        return [response.status_code for response in responses]

    statuses = asyncio.run(storm())
    assert sorted(statuses) == [200] * 49 + [202]
    store = redis.Redis.from_url(redis_url)
    assert Ledger(store).count() == 1
    store.close()
