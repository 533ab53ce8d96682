"""Runs the ingest benchmark: redis-server, one uvicorn process, a separate load generator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.ingest.payload import SECRET, order_body, request_template
from bench.ingest.server import BARE_PATH
from bench.local import free_port as _free_port
from bench.local import redis_argv as _redis
from bench.local import running as _process

REAL_PATH = "/webhooks/shopify"
TARGET_RATIO = 0.35
TARGET_P99_MS = 50.0
ROOT = Path(__file__).resolve().parents[2]


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(
    mode: str, port: int, path: str, seconds: float, server_pid: int | None = None, **options: float
) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.ingest.load", mode, "--port", str(port), "--path", path]
    argv += ["--seconds", str(seconds)]
    for name, value in options.items():
        argv += [f"--{name}", str(value)]
    before = _cpu_seconds(server_pid) if server_pid else None
    done = subprocess.run(argv, capture_output=True, check=True, cwd=ROOT, timeout=seconds + 60)
    after = _cpu_seconds(server_pid) if server_pid else None
    result: dict[str, Any] = json.loads(done.stdout)
    # the server's CPU per request: what a busy, shared machine distorts least
    if before is not None and after is not None and result["count"]:
        result["server_cpu_us"] = (after - before) / result["count"] * 1e6
    return result


def _check_answers(port: int) -> None:
    """One request to each endpoint before measuring: both must accept the delivery."""
    head, _ = request_template("", "", order_body())
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[2:] if ": " in line)
    del headers["Content-Length"]
    for path in (BARE_PATH, REAL_PATH):
        headers["X-Shopify-Webhook-Id"] = f"bench-check-{time.time_ns()}"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", data=order_body(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
            if response.status != 202 or answer != {"status": "queued"}:
                raise RuntimeError(f"{path} answered {response.status} {answer}")


def run(
    seconds: float = 5.0, connections: int = 32, rate: float = 500.0, rounds: int = 2
) -> dict[str, Any]:
    """Measure; returns the figures (see `format_table`)."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        redis_port, app_port, sink_port = _free_port(), _free_port(), _free_port()
        stack.enter_context(
            _process(_redis(workdir, redis_port), redis_port, workdir / "redis.log")
        )
        server_env = {
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SHOPIFY_WEBHOOK_SECRETS": SECRET,
            "ADAPTER_CONFIG": "",
        }
        uvicorn = [sys.executable, "-m", "uvicorn", "bench.ingest.server:create", "--factory"]
        uvicorn += ["--host", "127.0.0.1", "--port", str(app_port)]
        uvicorn += ["--no-access-log", "--log-level", "warning"]
        server = stack.enter_context(
            _process(uvicorn, app_port, workdir / "server.log", server_env)
        )
        sink = [sys.executable, "-m", "bench.ingest.sink", str(sink_port)]
        stack.enter_context(_process(sink, sink_port, workdir / "sink.log"))
        _check_answers(app_port)

        ceiling = _load("closed", sink_port, REAL_PATH, seconds, connections=connections)
        bare_runs: list[dict[str, Any]] = []
        real_runs: list[dict[str, Any]] = []
        for _ in range(rounds):
            for runs, path in ((bare_runs, BARE_PATH), (real_runs, REAL_PATH)):
                runs.append(
                    _load("closed", app_port, path, seconds, server, connections=connections)
                )
        bare_open = _load("open", app_port, BARE_PATH, seconds, rate=rate)
        real_open = _load("open", app_port, REAL_PATH, seconds, rate=rate)

    bare = max(bare_runs, key=lambda r: r["rps"])
    real = max(real_runs, key=lambda r: r["rps"])
    ratio = real["rps"] / bare["rps"] if bare["rps"] else 0.0
    return {
        "cpus": os.cpu_count(),
        "body_bytes": len(order_body()),
        "seconds": seconds,
        "connections": connections,
        "rate": rate,
        "generator_ceiling_rps": ceiling["rps"],
        "bare_rps": bare["rps"],
        "real_rps": real["rps"],
        "ratio": ratio,
        "bare_cpu_us": min(r.get("server_cpu_us", float("nan")) for r in bare_runs),
        "real_cpu_us": min(r.get("server_cpu_us", float("nan")) for r in real_runs),
        "bare_p50_ms": bare_open["p50_ms"],
        "bare_p99_ms": bare_open["p99_ms"],
        "real_p50_ms": real_open["p50_ms"],
        "real_p99_ms": real_open["p99_ms"],
        "statuses": {
            "bare_closed": bare["statuses"],
            "real_closed": real["statuses"],
            "bare_open": bare_open["statuses"],
            "real_open": real_open["statuses"],
        },
        "ratio_ok": ratio >= TARGET_RATIO,
        "p99_ok": real_open["p99_ms"] <= TARGET_P99_MS,
    }


def format_table(figures: dict[str, Any]) -> str:
    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    lines = [
        f"ingest: Shopify orders/create, {figures['body_bytes']} B body, one uvicorn process, "
        f"redis appendfsync everysec, {figures['cpus']} CPUs (shared with the generator)",
        f"{'':34}{'bare verify':>12}{'full ingest':>13}   target",
        f"{'max throughput, ' + str(figures['connections']) + ' conns (req/s)':34}"
        f"{figures['bare_rps']:>12.0f}{figures['real_rps']:>13.0f}   "
        f"ratio {figures['ratio']:.2f} >= {TARGET_RATIO} {mark(figures['ratio_ok'])}",
        f"{'server CPU per request (us)':34}"
        f"{figures['bare_cpu_us']:>12.0f}{figures['real_cpu_us']:>13.0f}   "
        f"ratio {figures['bare_cpu_us'] / figures['real_cpu_us']:.2f}",
        f"{'p50 at ' + str(int(figures['rate'])) + ' req/s (ms)':34}"
        f"{figures['bare_p50_ms']:>12.2f}{figures['real_p50_ms']:>13.2f}",
        f"{'p99 at ' + str(int(figures['rate'])) + ' req/s (ms)':34}"
        f"{figures['bare_p99_ms']:>12.2f}{figures['real_p99_ms']:>13.2f}   "
        f"<= {TARGET_P99_MS:.0f} {mark(figures['p99_ok'])}",
        f"load generator ceiling (closed loop against a no-op server): "
        f"{figures['generator_ceiling_rps']:.0f} req/s",
        f"answers: {json.dumps(figures['statuses'])}",
    ]
    return "\n".join(lines)
