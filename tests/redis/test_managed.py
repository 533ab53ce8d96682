"""Managed Redis end to end: `adapter serve` takes a signed webhook, `adapter worker`
delivers it to the CRM sandbox, and `adapter config check` passes, over TLS (`rediss://`,
mutual TLS with a throwaway CA) and through Redis Sentinel (`redis+sentinel://`),
including a failover."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from adapter import signing
from tests.redis.tls import Pems, make_pems
from tests.support.processes import (
    Process,
    adapter_command,
    free_port,
    redis_server_binary,
    start_redis,
)
from tests.support.waiting import wait_until
from tests.workers.live import Crm, Sandbox

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "managed-redis-test-secret"
SHOP = "riyadh-oud.myshopify.com"
SERVICE = "orders"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    server = Sandbox(tmp_path_factory.mktemp("sandbox"), rate_limit=600).start()
    yield server
    server.stop()


@pytest.fixture
def crm(sandbox: Sandbox) -> Iterator[Crm]:
    view = Crm(sandbox, sandbox.new_org("managed")["api_key"])
    yield view
    view.close()


@dataclass
class Stack:
    """`adapter serve` and `adapter worker` processes sharing one environment."""

    env: dict[str, str]
    web: Process
    worker: Process
    port: int

    def post_order(self, number: int) -> httpx.Response:
        order = json.loads((ROOT / "adapter" / "samples" / "shopify_order.json").read_text())
        order["id"] = 820982911946154000 + number
        order["name"] = f"#{number}"
        order["order_number"] = number
        body = json.dumps(order).encode()
        headers = signing.shopify_headers(body, SECRET, "orders/create", SHOP)
        return httpx.post(
            f"http://127.0.0.1:{self.port}/webhooks/shopify",
            content=body,
            headers=headers,
            timeout=30,
        )

    def stop(self) -> None:
        self.web.stop()
        self.worker.stop()


StartStack = Callable[[dict[str, str]], Stack]


def _env(redis_url: str, crm: Crm, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ADAPTER_CONFIG"}
    return {
        **env,
        "REDIS_URL": redis_url,
        "CRM_BASE_URL": crm.sandbox.base_url,
        "CRM_API_KEY": crm.api_key,
        "SHOPIFY_WEBHOOK_SECRETS": SECRET,
        "BATCH_LINGER_SECONDS": "0.2",
        **extra,
    }


@pytest.fixture
def start_stack(tmp_path: Path) -> Iterator[StartStack]:
    started: list[Stack] = []

    def start(env: dict[str, str]) -> Stack:
        port = free_port()
        web = Process(
            adapter_command("serve", "--port", str(port)),
            port,
            env=env,
            log_path=tmp_path / "serve.log",
        ).start()
        worker = Process(
            adapter_command("worker"), None, env=env, log_path=tmp_path / "worker.log"
        ).start()
        stack = Stack(env, web, worker, port)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()


def _config_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        adapter_command("config", "check"), env=env, capture_output=True, text=True, timeout=60
    )


def _deal_titles(crm: Crm) -> list[str]:
    return sorted(deal.title for deal in crm.deals())


def _delivered(crm: Crm, *titles: str) -> None:
    wanted = sorted(titles)
    wait_until(
        lambda: _deal_titles(crm) == wanted,
        timeout=60,
        interval=0.5,
        message=f"deals {wanted} in the sandbox",
    )


def _redis_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Redis" in line]


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[Process, Pems]]:
    pems = make_pems(tmp_path)
    data = tmp_path / "redis-tls"
    data.mkdir()
    port = free_port()
    tls = (
        "--port", "0",
        "--tls-port", str(port),
        "--tls-cert-file", str(pems.server_cert),
        "--tls-key-file", str(pems.server_key),
        "--tls-ca-cert-file", str(pems.ca),
        "--tls-auth-clients", "yes",
    )  # fmt: skip
    # start_redis's own --port comes first; the later --port 0 turns plain TCP off
    process = start_redis(data, port=port, aof=True, extra=tls)
    yield process, pems
    process.stop()


def test_tls_redis_serves_delivers_and_passes_config_check(
    tls_redis: tuple[Process, Pems], crm: Crm, start_stack: StartStack
) -> None:
    process, pems = tls_redis
    env = _env(
        f"rediss://127.0.0.1:{process.port}/0",
        crm,
        REDIS_TLS_CA_FILE=str(pems.ca),
        REDIS_TLS_CERT_FILE=str(pems.client_cert),
        REDIS_TLS_KEY_FILE=str(pems.client_key),
    )
    check = _config_check(env)
    assert check.returncode == 0, check.stderr
    assert _redis_warnings(check.stderr) == []

    stack = start_stack(env)
    assert stack.post_order(5001).status_code == 202
    _delivered(crm, "Order #5001")


def test_tls_redis_without_the_ca_file_is_named_unreachable(
    tls_redis: tuple[Process, Pems], crm: Crm
) -> None:
    process, _ = tls_redis
    check = _config_check(_env(f"rediss://127.0.0.1:{process.port}/0", crm))
    assert check.returncode == 0
    assert _redis_warnings(check.stderr) == [
        "warning: Redis did not answer (ConnectionError): its maxmemory-policy and "
        "persistence were not checked"
    ]


def _start_sentinel(workdir: Path, master_port: int) -> Process:
    port = free_port()
    conf = workdir / "sentinel.conf"
    conf.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {workdir}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        f"sentinel failover-timeout {SERVICE} 5000\n"
    )
    argv = [redis_server_binary(), str(conf), "--sentinel"]
    return Process(argv, port, log_path=workdir / "sentinel.log").start()


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[tuple[Process, Process, Process]]:
    """A master, its replica and one sentinel watching them, all on loopback."""
    started: list[Process] = []
    try:
        dirs = [tmp_path / name for name in ("master", "replica", "sentinel")]
        for directory in dirs:
            directory.mkdir()
        master = start_redis(dirs[0], aof=True)
        started.append(master)
        replica = start_redis(
            dirs[1], aof=True, extra=("--replicaof", "127.0.0.1", str(master.port))
        )
        started.append(replica)
        with redis.Redis(port=replica.port, decode_responses=True) as client:
            wait_until(
                lambda: client.info("replication")["master_link_status"] == "up",
                message="replica linked",
            )
        assert master.port is not None
        sentinel = _start_sentinel(dirs[2], master.port)
        started.append(sentinel)
        with redis.Redis(port=sentinel.port, decode_responses=True) as client:
            wait_until(
                lambda: client.sentinel_slaves(SERVICE),
                timeout=30,
                message="the sentinel has found the replica",
            )
        yield master, replica, sentinel
    finally:
        for process in reversed(started):
            process.stop()


def test_sentinel_url_serves_delivers_and_survives_a_failover(
    sentinel_setup: tuple[Process, Process, Process], crm: Crm, start_stack: StartStack
) -> None:
    master, replica, sentinel = sentinel_setup
    env = _env(f"redis+sentinel://127.0.0.1:{sentinel.port}/{SERVICE}/0", crm)
    check = _config_check(env)
    assert check.returncode == 0, check.stderr
    assert _redis_warnings(check.stderr) == []

    stack = start_stack(env)
    assert stack.post_order(6001).status_code == 202
    _delivered(crm, "Order #6001")

    with redis.Redis(port=sentinel.port, decode_responses=True) as client:
        client.sentinel_failover(SERVICE)
        wait_until(
            lambda: client.sentinel_get_master_addr_by_name(SERVICE)[1] == replica.port,
            timeout=30,
            message="the replica promoted",
        )
    with redis.Redis(port=master.port, decode_responses=True) as old:
        wait_until(
            lambda: old.info("replication")["role"] == "slave",
            timeout=30,
            message="the old master demoted",
        )

    # the same processes, no restart: the next delivery goes to the new master
    answers = [stack.post_order(6002).status_code]
    while answers[-1] == 503 and len(answers) < 10:
        answers.append(stack.post_order(6002).status_code)
    assert answers[-1] == 202, answers
    _delivered(crm, "Order #6001", "Order #6002")
