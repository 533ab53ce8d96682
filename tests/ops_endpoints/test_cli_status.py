"""`adapter status`: what is queued, waiting, dead and alive, from Redis."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import redis

from adapter.cli.failures import EXIT_UNAVAILABLE
from tests.ops_endpoints.support import ROOT, put_dead_letter
from tests.support.processes import adapter_command, free_port
from workers.status import beat, record_crm_error


def status(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url, "ADAPTER_CONFIG": ""}
    return subprocess.run(
        adapter_command("status", *args),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_status_json_reports_queues_outbox_dead_letters_limits_and_workers(
    redis_url: str, text_redis: redis.Redis
) -> None:
    put_dead_letter(text_redis)
    beat(text_redis, "worker-a", ["outbox", "deliveries"])
    record_crm_error(text_redis, "upstream said no to ada@example.com")
    result = status(redis_url, "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert {q["name"] for q in found["queues"]} >= {"deliveries", "outbox"}
    assert {o["kind"] for o in found["outbox"]} == {"deals", "contacts", "leads", "changes"}
    assert found["dead_letters"] == 1
    assert found["failed_jobs"] == 0
    assert found["rate_limit"]["per_minute"] == 120
    assert found["rate_limit"]["paused_for"] == 0
    assert list(found["workers"]) == ["worker-a"]
    assert found["last_crm_error"]["message"] == "upstream said no to [email]"


def test_status_text_names_every_section(redis_url: str) -> None:
    result = status(redis_url)
    assert result.returncode == 0, result.stderr
    headings = ("Workers: 0 alive", "Delivery ledger: 0 waiting", "RQ queues", "Outbox:")
    for heading in (*headings, "In flight:", "Rate limit:"):
        assert heading in result.stdout
    assert "Dead letters: 0" in result.stdout
    assert "Last CRM error: none" in result.stdout


def test_status_says_so_when_redis_does_not_answer() -> None:
    result = status(f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == EXIT_UNAVAILABLE
    assert "does not answer" in result.stderr
    assert "Traceback" not in result.stderr
