"""Peak memory of the web process and of a worker process under load, and its baselines.

The real processes (`adapter serve`, `adapter worker`) take N distinct Shopify orders:
the web queues them, the worker maps them and delivers them to `adapter sandbox`.
Their peak resident set (VmHWM in /proc/<pid>/status) is then set against:

- the bare-HMAC server of `bench.ingest` (uvicorn, the same imports, an endpoint that
  only verifies the signature) after the same N requests: what queueing costs;
- an idle interpreter that imported what each process is built on
  (`starlette, uvicorn` for the web, `rq, redis, httpx` for the worker): what our
  own code and its data cost on top of the libraries.

Linux only (/proc).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from adapter.signing import shopify_headers
from bench.ingest.server import BARE_PATH
from workers.outbox import Outbox

SECRET = "shpss_bench_memory_secret"  # noqa: S105 - the benchmark's own throwaway secret
SHOP = "bench-memory.myshopify.com"
API_KEY = "cg_bench_memory_key"
RATE_LIMIT = 6000
ROOT = Path(__file__).resolve().parents[2]
IDLE_WEB = "import starlette, uvicorn"
IDLE_WORKER = "import rq, redis, httpx"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


@contextmanager
def _child(
    argv: list[str], log: Path, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=ROOT
        )
    try:
        if port is not None:
            _wait(lambda: proc.poll() is None and _listening(port), 30, f"{argv[2:4]} on {port}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def idle_baseline(imports: str) -> int:
    """Peak RSS (KiB) of an interpreter that only imported `imports`."""
    code = f"{imports}; import sys; print('ready', flush=True); sys.stdin.read()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    try:
        proc.stdout.readline()
        return memory_kib(proc.pid)["VmHWM"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def order(n: int) -> bytes:
    email = f"memory-{n}@example.com"
    return json.dumps(
        {
            "id": 7_700_000_000 + n,
            "name": f"#M{n}",
            "email": email,
            "currency": "EGP",
            "total_price": f"{100 + n % 900}.00",
            "financial_status": "paid",
            "updated_at": "2026-11-28T10:00:00Z",
            "customer": {"email": email, "first_name": "Memory", "last_name": f"Bench{n}"},
            "line_items": [{"name": "Widget", "quantity": 1, "price": "100.00"}],
        }
    ).encode()


async def _drive(port: int, path: str, deliveries: int, concurrency: int) -> dict[str, int]:
    """POST `deliveries` signed orders with `concurrency` in flight; answers by status."""
    statuses: dict[str, int] = {}
    numbers = iter(range(deliveries))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
    ) as client:

        async def one_connection() -> None:
            for n in numbers:
                body = order(n)
                headers = shopify_headers(body, SECRET, "orders/create", SHOP)
                response = await client.post(path, content=body, headers=headers)
                key = str(response.status_code)
                statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return statuses


def drive(port: int, path: str, deliveries: int, concurrency: int) -> dict[str, int]:
    return asyncio.run(_drive(port, path, deliveries, concurrency))


def _workers(redis_url: str) -> int:
    with redis.Redis.from_url(redis_url) as store:
        return int(store.scard("rq:workers"))


def _drained(redis_url: str) -> bool:
    with redis.Redis.from_url(redis_url, decode_responses=True) as text:
        queued = int(text.llen("rq:queue:deliveries"))
        return queued == 0 and Outbox(text).size() == 0


def run(deliveries: int = 5000, concurrency: int = 32) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        with ExitStack() as stack:
            redis_port, sandbox_port = _free_port(), _free_port()
            web_port, bare_port = _free_port(), _free_port()
            binary = shutil.which("redis-server")
            if binary is None:
                raise RuntimeError("redis-server is not installed")
            redis_argv = [
                binary,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(workdir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ]
            stack.enter_context(_child(redis_argv, workdir / "redis.log", port=redis_port))
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            sandbox_argv = [
                sys.executable,
                "-m",
                "adapter",
                "sandbox",
                "--port",
                str(sandbox_port),
                "--api-key",
                API_KEY,
                "--rate-limit",
                str(RATE_LIMIT),
                "--log-level",
                "warning",
            ]
            stack.enter_context(_child(sandbox_argv, workdir / "sandbox.log", port=sandbox_port))
            env = {
                "REDIS_URL": redis_url,
                "SHOPIFY_WEBHOOK_SECRETS": SECRET,
                "CRM_BASE_URL": f"http://127.0.0.1:{sandbox_port}/functions/v1",
                "CRM_API_KEY": API_KEY,
                "CRM_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
                "LOG_LEVEL": "WARNING",
                "ADAPTER_CONFIG": "",
            }
            web_argv = [sys.executable, "-m", "adapter", "serve", "--port", str(web_port)]
            web = stack.enter_context(_child(web_argv, workdir / "web.log", env, web_port))
            bare_argv = [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.ingest.server:create",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(bare_port),
                "--no-access-log",
                "--log-level",
                "warning",
            ]
            bare = stack.enter_context(_child(bare_argv, workdir / "bare.log", env, bare_port))
            worker_argv = [sys.executable, "-m", "adapter", "worker"]
            worker = stack.enter_context(_child(worker_argv, workdir / "worker.log", env))
            _wait(lambda: _workers(redis_url) > 0, 30, "the worker")

            idle = {"web": memory_kib(web.pid)["VmRSS"], "worker": memory_kib(worker.pid)["VmRSS"]}
            started = time.perf_counter()
            web_answers = drive(web_port, "/webhooks/shopify", deliveries, concurrency)
            bare_answers = drive(bare_port, BARE_PATH, deliveries, concurrency)
            _wait(lambda: _drained(redis_url), 600, "the worker to drain")
            elapsed = time.perf_counter() - started
            peaks = {
                "web": memory_kib(web.pid)["VmHWM"],
                "bare": memory_kib(bare.pid)["VmHWM"],
                "worker": memory_kib(worker.pid)["VmHWM"],
            }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    baselines = {"idle_web": idle_baseline(IDLE_WEB), "idle_worker": idle_baseline(IDLE_WORKER)}
    return {
        "deliveries": deliveries,
        "concurrency": concurrency,
        "seconds": elapsed,
        "answers": {"web": web_answers, "bare": bare_answers},
        "kib": {
            "web_idle": idle["web"],
            "web_peak": peaks["web"],
            "bare_peak": peaks["bare"],
            "worker_idle": idle["worker"],
            "worker_peak": peaks["worker"],
            **baselines,
        },
        "ratios": {
            "web_peak/bare_peak": peaks["web"] / peaks["bare"],
            "web_peak/idle_web": peaks["web"] / baselines["idle_web"],
            "worker_peak/idle_worker": peaks["worker"] / baselines["idle_worker"],
        },
    }


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def format_table(figures: dict[str, Any]) -> str:
    k, r = figures["kib"], figures["ratios"]
    rows = [
        ("process", "idle MiB", "peak MiB", "baseline", "baseline MiB", "ratio"),
        (
            "web (adapter serve)",
            _mib(k["web_idle"]),
            _mib(k["web_peak"]),
            "bare-HMAC server, same load",
            _mib(k["bare_peak"]),
            f"{r['web_peak/bare_peak']:.2f}",
        ),
        (
            "",
            "",
            "",
            f"idle python ({IDLE_WEB})",
            _mib(k["idle_web"]),
            f"{r['web_peak/idle_web']:.2f}",
        ),
        (
            "worker (adapter worker)",
            _mib(k["worker_idle"]),
            _mib(k["worker_peak"]),
            f"idle python ({IDLE_WORKER})",
            _mib(k["idle_worker"]),
            f"{r['worker_peak/idle_worker']:.2f}",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(
        f"{figures['deliveries']} distinct Shopify orders, {figures['concurrency']} in flight, "
        f"to each server; the worker delivered them to the sandbox "
        f"({figures['seconds']:.1f} s for both loads and the drain); "
        f"answers: {json.dumps(figures['answers'])}"
    )
    return "\n".join(lines)
