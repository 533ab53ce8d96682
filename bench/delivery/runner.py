"""Deliver N orders through the real path and compare with one request per event.

Batched: N UpsertDeal commands go into the outbox at once (as process_delivery jobs
would put them), and `adapter worker` processes drain it into `adapter sandbox`,
both sides limited to the same requests per minute. Drain time runs from the first
command queued to the last one acknowledged; the sandbox's own statistics count the
requests and rows.

Baseline: one POST /create-lead per order, through the same client, the same shared
Redis limiter and the same 5 requests in flight, on a fresh API key. It is measured on
`baseline_events` orders and extrapolated to N with the limiter's sliding window (the
first `rate_limit` requests of a minute at the measured pace, then `rate_limit` a minute).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from adapter.crm.client import CrmClient
from adapter.settings import Settings
from bench.delivery.orders import lead, order
from workers import intake
from workers.context import Context
from workers.ratelimit import LimiterGate, RateLimiter
from workers.status import read_status

ROWS_PER_REQUEST = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def _child(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def _servers(workdir: Path, rate_limit: int) -> Iterator[tuple[str, str]]:
    """redis-server and the sandbox; their URLs."""
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        raise RuntimeError("redis-server is not installed")
    redis_port, sandbox_port = _free_port(), _free_port()
    with ExitStack() as stack:
        redis_argv = [redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1"]
        redis_argv += ["--dir", str(workdir), "--save", "", "--appendonly", "no"]
        stack.enter_context(_child(redis_argv, workdir / "redis.log"))
        sandbox_argv = [sys.executable, "-m", "adapter", "sandbox", "--host", "127.0.0.1"]
        sandbox_argv += ["--port", str(sandbox_port), "--rate-limit", str(rate_limit)]
        stack.enter_context(_child(sandbox_argv, workdir / "sandbox.log"))
        _wait(lambda: _port_open(redis_port) and _port_open(sandbox_port), 30, "the servers")
        yield f"redis://127.0.0.1:{redis_port}/0", f"http://127.0.0.1:{sandbox_port}"


def _new_key(control: httpx.Client, name: str) -> str:
    response = control.post("/_sandbox/orgs", json={"name": name})
    response.raise_for_status()
    key: str = response.json()["api_key"]
    return key


def _settings(redis_url: str, sandbox: str, api_key: str, rate_limit: int) -> Settings:
    return Settings(
        redis_url=redis_url,
        crm_base_url=f"{sandbox}/functions/v1",
        crm_api_key=api_key,
        crm_rate_limit_per_minute=rate_limit,
    )


def _batched(
    workdir: Path, redis_url: str, sandbox: str, orders: int, workers: int, rate_limit: int
) -> dict[str, Any]:
    control = httpx.Client(base_url=sandbox, timeout=30)
    control.post("/_sandbox/reset").raise_for_status()
    api_key = _new_key(control, "bench-batched")
    settings = _settings(redis_url, sandbox, api_key, rate_limit)
    env = {
        "REDIS_URL": redis_url,
        "CRM_BASE_URL": settings.crm_base_url,
        "CRM_API_KEY": api_key,
        "CRM_RATE_LIMIT_PER_MINUTE": str(rate_limit),
        "LOG_LEVEL": "WARNING",
    }
    commands = [order(n) for n in range(orders)]
    ctx = Context(settings)
    with ExitStack() as stack:
        for n in range(workers):
            argv = [sys.executable, "-m", "adapter", "worker"]
            stack.enter_context(_child(argv, workdir / f"worker-{n}.log", env))
        _wait(lambda: len(read_status(ctx.redis)["workers"]) >= workers, 60, "the workers")
        started = time.perf_counter()
        intake.queue_commands(ctx, list(commands))
        _wait(lambda: ctx.outbox.size() == 0, 600, "the outbox to drain")
        drained = time.perf_counter() - started
    stats = control.get("/_sandbox/stats").json()
    control.close()
    ctx.close()
    rows = stats.get("bulk_rows", {}).get("/create-deals-bulk", [])
    requests = sum(sum(codes.values()) for codes in stats["requests"].values())
    return {
        "orders": orders,
        "crm_requests": requests,
        "bulk_requests": len(rows),
        "deals_delivered": sum(rows),
        "deals_per_request": sum(rows) / len(rows) if rows else 0.0,
        "drain_seconds": drained,
        "rate_limited_429": stats.get("rate_limited", 0),
    }


def _baseline(redis_url: str, sandbox: str, events: int, rate_limit: int) -> dict[str, Any]:
    control = httpx.Client(base_url=sandbox, timeout=30)
    api_key = _new_key(control, "bench-baseline")
    control.close()
    settings = _settings(redis_url, sandbox, api_key, rate_limit)
    ctx = Context(settings)
    limiter = RateLimiter(
        ctx.redis,
        api_key,
        per_minute=rate_limit,
        max_in_flight=settings.crm_max_in_flight,
        lease_seconds=ctx.options.lease,
    )
    client = CrmClient(settings.crm_base_url, api_key, max_attempts=3)
    leads = [lead(n) for n in range(events)]

    def send(n: int) -> None:
        client.with_gate(LimiterGate(limiter)).create_lead(leads[n])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=settings.crm_max_in_flight) as pool:
        list(pool.map(send, range(events)))
    elapsed = time.perf_counter() - started
    client.close()
    ctx.close()
    return {"events": events, "crm_requests": events, "seconds": elapsed}


def extrapolate(measured: dict[str, Any], orders: int, rate_limit: int) -> float:
    """Seconds for `orders` single requests under a sliding window of `rate_limit`/60 s:
    the first window's worth at the measured pace, then `rate_limit` a minute."""
    pace = float(measured["seconds"]) / float(measured["events"])
    first = min(orders, rate_limit)
    rest = orders - first
    return max(first * pace, 0.0) + 60.0 * rest / rate_limit


def run(
    orders: int = 10_000, baseline_events: int = 600, workers: int = 4, rate_limit: int = 1200
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    try:
        with _servers(workdir, rate_limit) as (redis_url, sandbox):
            batched = _batched(workdir, redis_url, sandbox, orders, workers, rate_limit)
            baseline = _baseline(redis_url, sandbox, min(baseline_events, orders), rate_limit)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ideal_requests = math.ceil(orders / ROWS_PER_REQUEST)
    ideal_seconds = ideal_requests / (rate_limit / 60.0)
    baseline_seconds = extrapolate(baseline, orders, rate_limit)
    return {
        "orders": orders,
        "workers": workers,
        "rate_limit_per_minute": rate_limit,
        "batched": batched,
        "ideal": {"crm_requests": ideal_requests, "drain_seconds": ideal_seconds},
        "drain_vs_ideal": batched["drain_seconds"] / ideal_seconds,
        "baseline": {
            **baseline,
            "extrapolated_orders": orders,
            "extrapolated_requests": orders,
            "extrapolated_seconds": baseline_seconds,
        },
        "speedup_vs_baseline": baseline_seconds / batched["drain_seconds"],
        "targets": {
            "deals_per_request>=95": batched["deals_per_request"] >= 95,
            "drain<=1.1x_ideal": batched["drain_seconds"] <= 1.1 * ideal_seconds,
            "no_429": batched["rate_limited_429"] == 0,
        },
    }


def format_table(figures: dict[str, Any]) -> str:
    b, base, ideal = figures["batched"], figures["baseline"], figures["ideal"]
    rows = [
        ("path", "CRM requests", "deals/request", "drain s", "vs ideal"),
        (
            "batched (outbox + workers)",
            str(b["crm_requests"]),
            f"{b['deals_per_request']:.1f}",
            f"{b['drain_seconds']:.2f}",
            f"{figures['drain_vs_ideal']:.2f}x",
        ),
        (
            "ideal (full requests at the limit)",
            str(ideal["crm_requests"]),
            "100.0",
            f"{ideal['drain_seconds']:.2f}",
            "1.00x",
        ),
        (
            f"baseline, measured ({base['events']} events)",
            str(base["crm_requests"]),
            "1.0",
            f"{base['seconds']:.2f}",
            "",
        ),
        (
            f"baseline, extrapolated ({base['extrapolated_orders']} events)",
            str(base["extrapolated_requests"]),
            "1.0",
            f"{base['extrapolated_seconds']:.1f}",
            f"{base['extrapolated_seconds'] / ideal['drain_seconds']:.1f}x",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    targets = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in figures["targets"].items())
    lines += [
        "",
        f"{figures['orders']} orders, {figures['workers']} workers, "
        f"{figures['rate_limit_per_minute']} requests/minute; "
        f"429s from the sandbox: {b['rate_limited_429']}; "
        f"{figures['speedup_vs_baseline']:.0f}x faster than one request per event",
        f"targets: {targets}",
    ]
    return "\n".join(lines)
