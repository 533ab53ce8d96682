"""`serve`, `worker` and `config check` against a Redis that can lose data: one line each,
no traceback, and a distinct exit status for a refusal."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapter.cli.config import EXIT_REDIS_UNSAFE
from adapter.cli.failures import EXIT_CONFIG
from adapter.redis_connection import FORMS
from adapter.redis_safety import evicting_message, no_aof_message
from tests.support.processes import Process, adapter_command, free_port, start_redis
from tests.support.waiting import wait_until


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Process]:
    process = start_redis(tmp_path, aof=True)
    yield process
    process.stop()


def _env(own_redis: Process, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ADAPTER_CONFIG"}
    # what serve and worker need besides Redis, so that Redis is what they stop on
    needs = {"SHOPIFY_WEBHOOK_SECRETS": "shpss_test", "CRM_API_KEY": "cg_test"}
    return {**env, **needs, "REDIS_URL": f"redis://127.0.0.1:{own_redis.port}/0", **extra}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        adapter_command(*args), env=env, capture_output=True, text=True, timeout=60
    )


def _evicting(own_redis: Process) -> None:
    with redis.Redis(port=own_redis.port) as client:
        client.config_set("maxmemory-policy", "allkeys-lru")


@pytest.mark.parametrize(
    ("command", "args"),
    [("serve", ("serve", "--port", "0")), ("worker", ("worker", "--burst"))],
)
def test_start_up_refuses_an_evicting_redis_with_one_line(
    own_redis: Process, command: str, args: tuple[str, ...]
) -> None:
    _evicting(own_redis)
    result = _run(_env(own_redis), *args)
    assert result.returncode == EXIT_REDIS_UNSAFE
    expected = f"adapter {command}: refusing to start: {evicting_message('allkeys-lru')}\n"
    assert result.stderr == expected


def test_config_check_refuses_an_evicting_redis_with_one_line(own_redis: Process) -> None:
    _evicting(own_redis)
    result = _run(_env(own_redis), "config", "check")
    assert result.returncode == EXIT_REDIS_UNSAFE
    assert result.stderr.splitlines()[-1] == (
        f"adapter config check: {evicting_message('allkeys-lru')}"
    )
    assert "Traceback" not in result.stderr


def test_config_check_names_a_missing_aof(own_redis: Process) -> None:
    with redis.Redis(port=own_redis.port) as client:
        client.config_set("appendonly", "no")
    result = _run(_env(own_redis), "config", "check")
    assert result.returncode == 0
    assert f"warning: {no_aof_message()}" in result.stderr.splitlines()


def test_config_check_is_quiet_about_aof_when_the_user_opts_in(own_redis: Process) -> None:
    with redis.Redis(port=own_redis.port) as client:
        client.config_set("appendonly", "no")
    result = _run(_env(own_redis, REDIS_ALLOW_NO_AOF="true"), "config", "check")
    assert result.returncode == 0
    assert "appendonly" not in result.stderr


def test_worker_names_a_missing_aof_at_start_up(own_redis: Process, tmp_path: Path) -> None:
    with redis.Redis(port=own_redis.port) as client:
        client.config_set("appendonly", "no")
    log = tmp_path / "worker.log"
    worker = Process(adapter_command("worker"), None, env=_env(own_redis), log_path=log).start()
    try:
        lines = wait_until(lambda: log.read_text().splitlines(), message="worker's output")
        assert lines[0] == f"adapter worker: warning: {no_aof_message()}"
    finally:
        worker.stop()


def test_serve_names_a_missing_aof_and_starts(own_redis: Process, tmp_path: Path) -> None:
    with redis.Redis(port=own_redis.port) as client:
        client.config_set("appendonly", "no")
    port = free_port()
    log = tmp_path / "serve.log"
    serve = Process(
        adapter_command("serve", "--port", str(port)), port, env=_env(own_redis), log_path=log
    ).start()
    try:
        lines = wait_until(lambda: log.read_text().splitlines(), message="serve's output")
        assert lines[0] == f"adapter serve: warning: {no_aof_message()}"
    finally:
        serve.stop()


def test_a_url_without_a_scheme_is_one_line_naming_redis_url(own_redis: Process) -> None:
    result = _run(_env(own_redis, REDIS_URL="127.0.0.1:6379"), "serve", "--port", "0")
    assert result.returncode == EXIT_CONFIG
    assert result.stderr == (
        f"adapter serve: invalid configuration: REDIS_URL: has no scheme: write it as {FORMS}\n"
    )


def test_an_unreachable_redis_is_named_and_config_check_still_passes() -> None:
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SHOPIFY_WEBHOOK_SECRETS": "shpss_test",
        "CRM_API_KEY": "cg_test",
    }
    env.pop("ADAPTER_CONFIG", None)
    result = _run(env, "config", "check")
    assert result.returncode == 0
    assert (
        "warning: Redis did not answer (ConnectionError): its maxmemory-policy and "
        "persistence were not checked"
    ) in result.stderr.splitlines()
