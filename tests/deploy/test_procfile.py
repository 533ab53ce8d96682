"""The Procfile under honcho: its web and worker processes deliver a signed webhook to
the CRM sandbox through a real Redis, and stop when honcho is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapter import signing
from tests.support.processes import free_port, port_open
from tests.support.waiting import wait_until
from tests.workers.live import Crm, Sandbox

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "procfile-test-secret"
SHOP = "riyadh-oud.myshopify.com"



@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    server = Sandbox(tmp_path, rate_limit=600).start()
    yield server
    server.stop()


@pytest.fixture
def crm(sandbox: Sandbox) -> Iterator[Crm]:
    view = Crm(sandbox, sandbox.new_org("procfile")["api_key"])
    yield view
    view.close()


@pytest.fixture
def honcho(
    tmp_path: Path, redis_url: str, crm: Crm
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "ADAPTER_CONFIG"},
        # where pip put the `adapter` script, as on a deployed host's PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "REDIS_URL": redis_url,
        "CRM_BASE_URL": crm.sandbox.base_url,
        "CRM_API_KEY": crm.api_key,
        "PORT": str(port),
        "SHOPIFY_WEBHOOK_SECRETS": SECRET,
        "BATCH_LINGER_SECONDS": "0.2",
    }
    log = (tmp_path / "honcho.log").open("wb")
    proc = subprocess.Popen(
        ["honcho", "start", "-f", str(ROOT / "Procfile")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    yield proc, port
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_procfile_delivers_a_webhook_and_stops_cleanly(
    honcho: tuple[subprocess.Popen[bytes], int], crm: Crm, tmp_path: Path
) -> None:
    proc, port = honcho
    log = tmp_path / "honcho.log"
    wait_until(lambda: port_open(port), timeout=30, message="the web process listening")
    order = json.loads((ROOT / "adapter" / "samples" / "shopify_order.json").read_text())
    body = json.dumps(order).encode()
    headers = signing.shopify_headers(body, SECRET, "orders/create", SHOP)

    response = httpx.post(
        f"http://127.0.0.1:{port}/webhooks/shopify", content=body, headers=headers, timeout=10
    )

    assert response.status_code == 202, response.text
    deals = wait_until(crm.deals, timeout=30, interval=0.5, message="the deal in the sandbox")
    assert [d.title for d in deals] == ["Order #1042"]

    proc.send_signal(signal.SIGINT)
    # 130: honcho's status for a run ended by Ctrl-C
    assert proc.wait(timeout=30) == 130
    output = log.read_text(errors="replace")
    # each process shut down on its own terms before it exited
    assert "web.1" in output
    assert "Application shutdown complete" in output
    assert "warm shut down requested" in output
    assert not port_open(port)
    assert subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True).returncode == 1
