"""Runs bench.wrk: redis-server, `adapter serve`, the bare app, and wrk against each in turn."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.ingest.payload import SECRET, SHOP
from bench.local import free_port, redis_argv, running
from bench.wrk.bare import PATH
from bench.wrk.pool import write_pool

SCRIPT = Path(__file__).with_name("webhooks.lua")
TARGETS = ("adapter", "bare")
LABELS = {"adapter": "adapter serve", "bare": "bare HMAC app"}
# the options `adapter serve` gives uvicorn (adapter/cli/serve.py, adapter/serving.py),
# for the bare app; httptools and uvloop are uvicorn's `auto` choices for both. The bare
# app keeps uvicorn's own httptools protocol and log handler: adapter serve's head-size
# bound and redacting logs count against adapter serve.
UVICORN_OPTIONS = ["--no-proxy-headers", "--no-server-header", "--log-level", "info"]


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("bench.wrk: wrk is not installed (apt-get install wrk)")
    return found


def run_wrk(
    port: int, seconds: float, threads: int, connections: int, pool: Path, tag: str
) -> dict[str, Any]:
    argv = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s"]
    argv += ["-s", str(SCRIPT), f"http://127.0.0.1:{port}", "--", str(pool), tag, PATH, SHOP]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_WRK "))
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_WRK "))
    result["requests_per_second"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def run(
    seconds: float = 10.0,
    rounds: int = 3,
    threads: int = 2,
    connections: int = 32,
    pool_size: int = 512,
) -> dict[str, Any]:
    """Warm each server up, then alternate: adapter, bare, adapter, bare, ..."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        pool = workdir / "orders.tsv"
        body_bytes = write_pool(pool, pool_size)
        redis_port, adapter_port, bare_port = free_port(), free_port(), free_port()
        stack.enter_context(running(redis_argv(workdir, redis_port), redis_port, workdir / "r.log"))
        env = {
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SHOPIFY_WEBHOOK_SECRETS": SECRET,
            "ADAPTER_CONFIG": "",
        }
        serve = [sys.executable, "-m", "adapter", "serve", "--host", "127.0.0.1"]
        stack.enter_context(
            running([*serve, "--port", str(adapter_port)], adapter_port, workdir / "a.log", env)
        )
        bare = [sys.executable, "-m", "uvicorn", "bench.wrk.bare:create", "--factory"]
        bare += ["--host", "127.0.0.1", "--port", str(bare_port), *UVICORN_OPTIONS]
        stack.enter_context(running(bare, bare_port, workdir / "b.log", env))
        ports = {"adapter": adapter_port, "bare": bare_port}

        for target in TARGETS:
            run_wrk(ports[target], 2, threads, connections, pool, f"warmup-{target}")
        measured: dict[str, list[dict[str, Any]]] = {target: [] for target in TARGETS}
        for n in range(rounds):
            for target in TARGETS:
                tag = f"round{n}-{target}"
                result = run_wrk(ports[target], seconds, threads, connections, pool, tag)
                measured[target].append(result)
    return _figures(measured, seconds, threads, connections, body_bytes)


def _figures(
    measured: dict[str, list[dict[str, Any]]],
    seconds: float,
    threads: int,
    connections: int,
    body_bytes: int,
) -> dict[str, Any]:
    ratios = [
        ours["requests_per_second"] / bare["requests_per_second"]
        for ours, bare in zip(measured["adapter"], measured["bare"], strict=True)
    ]
    total = {
        target: sum(r["requests"] for r in runs) / sum(r["duration_us"] / 1e6 for r in runs)
        for target, runs in measured.items()
    }
    return {
        "command": f"wrk -t{threads} -c{connections} -d{seconds:g}s -s bench/wrk/webhooks.lua",
        "body_bytes": body_bytes,
        "runs": measured,
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "overall_requests_per_second": total,
        "overall_ratio": total["adapter"] / total["bare"],
    }


def format_table(figures: dict[str, Any]) -> str:
    lines = [
        f"{figures['command']}  (orders of {figures['body_bytes']} bytes, unique webhook ids)",
        "",
        f"{'round':<6} {'adapter serve (req/s)':>22} {'bare HMAC app (req/s)':>22} {'ratio':>6}",
    ]
    rounds = zip(
        figures["runs"]["adapter"], figures["runs"]["bare"], figures["ratios"], strict=True
    )
    for n, (ours, bare, ratio) in enumerate(rounds, 1):
        lines.append(
            f"{n:<6} {ours['requests_per_second']:>22.0f} "
            f"{bare['requests_per_second']:>22.0f} {ratio:>6.2f}"
        )
    total = figures["overall_requests_per_second"]
    lines.append(
        f"{'all':<6} {total['adapter']:>22.0f} {total['bare']:>22.0f} "
        f"{figures['overall_ratio']:>6.2f}"
    )
    lines.append("")
    for target in TARGETS:
        runs = figures["runs"][target]
        statuses: dict[str, int] = {}
        for r in runs:
            for status, count in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        p99 = max(r["p99_us"] for r in runs) / 1000
        errors = sum(r["socket_errors"] for r in runs)
        lines.append(
            f"{LABELS[target]}: answers {statuses}, socket errors {errors}, worst p99 {p99:.1f} ms"
        )
    lines.append(f"median ratio over rounds: {figures['median_ratio']:.2f}")
    return "\n".join(lines)
