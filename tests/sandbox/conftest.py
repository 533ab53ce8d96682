from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.app import create_app
from crm_sandbox.faults import FaultSettings
from crm_sandbox.sandbox import Sandbox
from tests.support.processes import Process, adapter_command, free_port

with warnings.catch_warnings():
    # Starlette 1.x nudges TestClient users towards httpx2; the warning is not ours to fix.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

KEY_A = "cg_test_org_a"
KEY_B = "cg_test_org_b"
API = "http://sandbox.test/functions/v1"


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sleeps:
    """Stands in for asyncio.sleep: records how long the sandbox meant to wait."""

    seconds: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@dataclass
class Env:
    app: Any
    sandbox: Sandbox
    clock: FakeClock
    sleeps: Sleeps
    a: TestClient
    b: TestClient
    control: TestClient

    def client(self, key: str | None) -> TestClient:
        headers = {"X-API-Key": key} if key is not None else {}
        return TestClient(self.app, base_url=API, headers=headers)


def make_env(rate_limit: int = 0, faults: FaultSettings | None = None) -> Env:
    clock, sleeps = FakeClock(), Sleeps()
    app = create_app(
        api_keys=[KEY_A], rate_limit=rate_limit, faults=faults, monotonic=clock, sleep=sleeps
    )
    sandbox: Sandbox = app.state.sandbox
    sandbox.create_org("org b", KEY_B)
    return Env(
        app=app,
        sandbox=sandbox,
        clock=clock,
        sleeps=sleeps,
        a=TestClient(app, base_url=API, headers={"X-API-Key": KEY_A}),
        b=TestClient(app, base_url=API, headers={"X-API-Key": KEY_B}),
        control=TestClient(app, base_url="http://sandbox.test/_sandbox"),
    )


@pytest.fixture
def env() -> Iterator[Env]:
    """Two organisations (keys KEY_A, KEY_B), no rate limit, no faults, fake clocks."""
    built = make_env()
    yield built
    built.sandbox.store.close()


@pytest.fixture
def api(env: Env) -> TestClient:
    """A client of organisation A, at the production paths."""
    return env.a


REPRESENTATION = {"Prefer": "return=representation"}


def create_contact(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/rest-api-proxy/contacts", json=fields, headers=REPRESENTATION)
    assert response.status_code == 201, response.text
    row: dict[str, Any] = response.json()[0]
    return row


def create_deal(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/rest-api-proxy/deals", json=fields, headers=REPRESENTATION)
    assert response.status_code == 201, response.text
    row: dict[str, Any] = response.json()[0]
    return row


@dataclass
class Server:
    process: Process
    port: int
    key: str
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/functions/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_server(tmp: Path, *args: str) -> Server:
    port = free_port()
    log = tmp / f"sandbox-{port}.log"
    argv = adapter_command(
        "sandbox", "--port", str(port), "--api-key", "cg_test_server", "--log-level", "warning"
    )
    process = Process([*argv, *args], port, log_path=log).start()
    return Server(process, port, "cg_test_server", log)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `adapter sandbox` under uvicorn on a free loopback port."""
    running = start_server(tmp_path_factory.mktemp("sandbox"))
    yield running
    running.process.stop()
