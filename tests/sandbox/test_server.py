"""`adapter sandbox` as a real uvicorn server in a subprocess, driven by curl and httpx."""

from __future__ import annotations

import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from crm_sandbox.app import create_app
from crm_sandbox.server import ThreadedServer
from tests.sandbox.conftest import Server, start_server
from tests.support.processes import Process, adapter_command, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def curl(*args: str) -> tuple[int, str]:
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_curl_creates_and_finds_a_contact(server: Server) -> None:
    status, body = curl(
        "-X", "POST", f"{server.base}/rest-api-proxy/contacts",
        "-H", f"X-API-Key: {server.key}",
        "-H", "Content-Type: application/json",
        "-H", "Prefer: return=representation",
        "-d", '{"first_name": "Curl", "phones": ["+201555555555"]}',
    )  # fmt: skip
    assert status == 201
    assert '"first_name":"Curl"' in body
    status, body = curl(
        "-G", f"{server.base}/rest-api-proxy/contacts",
        "-H", f"X-API-Key: {server.key}",
        "--data-urlencode", 'phones=cs.{"+201555555555"}',
        "--data-urlencode", "select=first_name",
    )  # fmt: skip
    assert (status, body) == (200, '[{"first_name":"Curl"}]')


def test_curl_without_key_is_401(server: Server) -> None:
    assert curl(f"{server.base}/rest-api-proxy/contacts") == (401, '{"error":"Unauthorized"}')


def test_generated_key_is_printed_and_works(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "sandbox.log"
    process = Process(adapter_command("sandbox", "--port", str(port)), port, log_path=log).start()
    try:
        found = wait_until(lambda: re.search(r"API key: (cg_\w+)", log.read_text()), timeout=10)
        base = f"http://127.0.0.1:{port}/functions/v1"
        for key in (found.group(1), "cg_sandbox_dev_key"):
            status, _ = curl(f"{base}/rest-api-proxy/contacts", "-H", f"X-API-Key: {key}")
            assert status == 200
        assert f"http://127.0.0.1:{port}/functions/v1" in log.read_text()
    finally:
        process.stop()


def test_db_file_keeps_data_and_keys_across_restarts(tmp_path: Path) -> None:
    db = str(tmp_path / "crm.sqlite")
    first = start_server(tmp_path, "--db", db)
    try:
        created = httpx.post(
            f"{first.base}/create-lead",
            headers={"X-API-Key": first.key},
            json={"contact": {"first_name": "Kept"}, "deal": {"title": "T"}},
        )
        assert created.status_code == 201
    finally:
        first.process.stop()
    second = start_server(tmp_path, "--db", db)
    try:
        rows = httpx.get(
            f"{second.base}/rest-api-proxy/contacts", headers={"X-API-Key": second.key}
        ).json()
        assert [r["id"] for r in rows] == [created.json()["contact_id"]]
    finally:
        second.process.stop()


def test_flags_set_rate_limit_and_faults(tmp_path: Path) -> None:
    running = start_server(tmp_path, "--rate-limit", "2", "--seed", "9", "--fault-latency-ms", "1")
    try:
        faults = httpx.get(f"{running.root}/_sandbox/faults").json()
        assert (faults["seed"], faults["latency_ms"]) == (9, 1)
        headers = {"X-API-Key": running.key}
        statuses = [
            httpx.get(f"{running.base}/rest-api-proxy/deals", headers=headers) for _ in range(3)
        ]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert 1 <= int(statuses[2].headers["Retry-After"]) <= 60
    finally:
        running.process.stop()


def test_bad_fault_flag_exits_with_usage_error() -> None:
    done = subprocess.run(
        adapter_command("sandbox", "--fault-error-before", "2"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "error_before" in done.stderr


def test_a_hanging_answer_does_not_block_other_requests(server: Server) -> None:
    headers = {"X-API-Key": server.key}
    lead = {"contact": {"first_name": "Hung"}, "deal": {"title": "held"}}
    faults = f"{server.root}/_sandbox/faults"
    assert httpx.post(faults, json={"hang": 1.0, "hang_seconds": 30}).status_code == 200
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.base}/create-lead", headers=headers, json=lead, timeout=1.0)
    finally:
        httpx.post(faults, json={})
    # The held request is still open on the server; this one is answered regardless.
    found = httpx.get(
        f"{server.base}/rest-api-proxy/deals",
        headers=headers,
        params={"title": "eq.held"},
        timeout=5.0,
    )
    assert found.status_code == 200
    assert len(found.json()) == 1


def test_simultaneous_bulk_calls_over_http_create_no_duplicates(server: Server) -> None:
    headers = {"X-API-Key": server.key}
    deals = [
        {"title": f"HTTP #{i}", "contact_email": f"http{i % 3}@example.com",
         "create_contact_if_missing": True}
        for i in range(30)
    ]  # fmt: skip
    start = threading.Barrier(4)

    def send(_: int) -> int:
        start.wait()
        response = httpx.post(
            f"{server.base}/create-deals-bulk",
            headers=headers,
            json={"deals": deals, "skip_if_exists": True},
            timeout=10,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert set(pool.map(send, range(4))) == {200}
    contacts = httpx.get(
        f"{server.base}/rest-api-proxy/contacts",
        headers=headers,
        params={"emails": "ov.{http0@example.com,http1@example.com,http2@example.com}"},
    ).json()
    assert len(contacts) == 3
    found = httpx.get(
        f"{server.base}/rest-api-proxy/deals", headers=headers, params={"title": "like.HTTP*"}
    ).json()
    assert len(found) == 30


def test_threaded_server_serves_an_embedded_app() -> None:
    app = create_app(api_keys=["cg_test_threaded"])
    running = ThreadedServer(app, port=free_port()).start()
    try:
        response = httpx.post(
            f"{running.base_url}/search-contacts",
            headers={"X-API-Key": "cg_test_threaded"},
            json={"query": "x"},
        )
        assert (response.status_code, response.json()) == (200, [])
    finally:
        running.stop()
