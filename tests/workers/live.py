"""Real parts for end-to-end tests: the CRM sandbox over HTTP and `adapter worker` processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from adapter.crm.client import CrmClient
from adapter.crm.models import ContactRecord, DealRecord
from adapter.settings import Settings
from tests.support.processes import Process, adapter_command, free_port
from workers.context import Context, Options


class Sandbox:
    """`adapter sandbox` on a loopback port, driven through its control endpoints."""

    def __init__(self, workdir: Path, rate_limit: int = 120) -> None:
        self.port = free_port()
        self.process = Process(
            adapter_command(
                "sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--rate-limit",
                str(rate_limit),
            ),
            self.port,
            log_path=workdir / "sandbox.log",
        )
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root}/functions/v1"
        self.http = httpx.Client(base_url=self.root, timeout=30)

    def start(self) -> Sandbox:
        self.process.start()
        return self

    def stop(self) -> None:
        self.http.close()
        self.process.stop()

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()

    def new_org(self, name: str = "test") -> dict[str, Any]:
        response = self.http.post("/_sandbox/orgs", json={"name": name})
        response.raise_for_status()
        org: dict[str, Any] = response.json()
        return org

    def faults(self, **faults: Any) -> None:
        self.http.post("/_sandbox/faults", json=faults).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self.http.get("/_sandbox/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


def statuses(stats: dict[str, Any], status: str) -> int:
    """How many answers of `status` the sandbox gave, over every route."""
    return sum(int(codes.get(status, 0)) for codes in stats["requests"].values())


class Crm:
    """One org of the sandbox, read back record by record (never through the limiter)."""

    def __init__(self, sandbox: Sandbox, api_key: str) -> None:
        self.sandbox = sandbox
        self.api_key = api_key
        self.client = CrmClient(sandbox.base_url, api_key, max_attempts=1)

    def deals(self) -> list[DealRecord]:
        return self.client.list_deals({}, limit=100000)

    def contacts(self) -> list[ContactRecord]:
        return self.client.list_contacts({}, limit=100000)

    def deals_by_external_id(self) -> dict[str, list[DealRecord]]:
        found: dict[str, list[DealRecord]] = {}
        for deal in self.deals():
            key = str((deal.custom_fields or {}).get("external_id"))
            found.setdefault(key, []).append(deal)
        return found

    def close(self) -> None:
        self.client.close()


def worker_env(redis_url: str, crm: Crm, *, timeout: float = 5.0, **extra: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "CRM_BASE_URL": crm.sandbox.base_url,
        "CRM_API_KEY": crm.api_key,
        "CRM_RATE_LIMIT_PER_MINUTE": "120",
        "CRM_TIMEOUT_SECONDS": str(timeout),
        "BATCH_LINGER_SECONDS": "0.5",
        "ADAPTER_BACKOFF_BASE_SECONDS": "0.2",
        "ADAPTER_BACKOFF_CAP_SECONDS": "1",
        "LOG_LEVEL": "INFO",
        **extra,
    }


class Workers:
    """`adapter worker` processes, each logging to its own file."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.processes: list[Process] = []

    def start(self, **extra: str) -> Process:
        n = len(self.processes)
        process = Process(
            adapter_command("worker"),
            None,
            env={**self.env, **extra},
            log_path=self.workdir / f"worker-{n}.log",
        ).start()
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@contextmanager
def producer(env: dict[str, str]) -> Iterator[Context]:
    """The test's own view of the outbox, configured like the workers."""
    settings = Settings(
        redis_url=env["REDIS_URL"],
        crm_base_url=env["CRM_BASE_URL"],
        crm_api_key=env["CRM_API_KEY"],
    )
    ctx = Context(settings, Options.from_settings(settings))
    try:
        yield ctx
    finally:
        ctx.close()
