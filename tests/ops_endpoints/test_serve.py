"""`adapter serve` runs the served app: counters add up across its worker processes, and
uvicorn's own logs pass through the masking handler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops_endpoints.scrape import Scrape
from tests.ops_endpoints.support import (
    ADMIN_TOKEN,
    ROOT,
    order_body,
    server_env,
    shopify_headers,
)
from tests.support.processes import Process, adapter_command, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

SENT = 12


@pytest.fixture
def two_workers(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = tmp_path / "serve.log"
    argv = adapter_command("serve", "--port", str(port), "--workers", "2")
    env = {**server_env(redis_url), "LOG_LEVEL": "INFO"}
    process = Process(argv, port, env=env, log_path=log, cwd=ROOT).start(timeout=60)
    yield f"http://127.0.0.1:{port}", log
    process.stop()


def test_counts_from_every_web_process_add_up(two_workers: tuple[str, Path]) -> None:
    url, _ = two_workers
    body = order_body()
    for _ in range(SENT):
        # a new connection each time, so the kernel spreads them over both processes
        with httpx.Client(base_url=url, timeout=20) as http:
            answer = http.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
            assert answer.status_code == 202

    def queued() -> bool:
        with httpx.Client(base_url=url, timeout=20) as http:
            scrape = Scrape(http)
        labels = {"source": "shopify", "topic": "orders/create", "outcome": "queued"}
        return scrape.value("adapter_webhook_deliveries_total", **labels) == SENT

    wait_until(queued, timeout=20, interval=0.2, message=f"{SENT} queued in /metrics")


def test_the_access_log_masks_the_admin_token(two_workers: tuple[str, Path]) -> None:
    url, log = two_workers
    with httpx.Client(base_url=url, timeout=20) as http:
        assert http.get("/status", params={"token": ADMIN_TOKEN}).status_code == 303
    wait_until(lambda: "/status?token=" in log.read_text(), timeout=20, message="access log")
    assert ADMIN_TOKEN not in log.read_text()
    assert "/status?token=***" in log.read_text()
