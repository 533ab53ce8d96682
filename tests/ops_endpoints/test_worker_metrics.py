"""A real `adapter worker` delivering to the CRM sandbox: its counts show in the web's /metrics."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops_endpoints.scrape import Scrape
from tests.ops_endpoints.support import ROOT, order_body, shopify_headers
from tests.support.processes import Process, adapter_command, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("sandbox")
    port = free_port()
    argv = adapter_command("sandbox", "--host", "127.0.0.1", "--port", str(port))
    process = Process(argv, port, log_path=workdir / "sandbox.log", cwd=ROOT).start(timeout=60)
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_a_worker_runs_counts_crm_requests_rows_and_latency(
    http: httpx.Client, redis_url: str, sandbox: str, tmp_path: Path
) -> None:
    org = httpx.post(f"{sandbox}/_sandbox/orgs", json={"name": "ops"}, timeout=20).json()
    before = Scrape(http)
    body = order_body()
    assert http.post("/webhooks/shopify", content=body, headers=shopify_headers(body)).is_success
    Scrape(http)  # the web process writes its counts before the worker starts
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "CRM_BASE_URL": f"{sandbox}/functions/v1",
        "CRM_API_KEY": org["api_key"],
        "BATCH_LINGER_SECONDS": "0",
        "ADAPTER_CONFIG": "",
    }
    with open(tmp_path / "worker.log", "wb") as log:
        subprocess.run(
            adapter_command("worker", "--burst"),
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=True,
        )
    after = Scrape(http)

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    deals = {"endpoint": "POST create-deals-bulk", "status": "200"}
    assert grew("adapter_crm_requests_total", **deals) >= 1
    assert grew("adapter_outbox_rows_total", kind="deals", result="delivered") >= 1
    assert grew("adapter_delivery_seconds_count", kind="deals") >= 1
    assert after.value("adapter_rq_queue_jobs", queue="deliveries") == 0
    assert after.value("adapter_outbox_entries", kind="deals") == 0
    assert after.value("adapter_crm_last_timestamp_seconds", result="success") > 0
