"""python -m bench [--quick] [--only ingest,delivery,memory] [--json]

Runs the ingestion, delivery and memory benchmarks and prints one table of our figures
against their baselines. Each benchmark also runs on its own (`python -m bench.ingest`,
`python -m bench.delivery`, `python -m bench.memory`) with more knobs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCHMARKS = ("ingest", "delivery", "memory")

# (benchmark options for --quick, for a full run)
OPTIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "ingest": ({"seconds": 2.0, "rounds": 1}, {"seconds": 5.0, "rounds": 2}),
    "delivery": (
        {"orders": 2000, "baseline_events": 200},
        {"orders": 10_000, "baseline_events": 600},
    ),
    "memory": ({"deliveries": 1000}, {"deliveries": 5000}),
}

Row = tuple[str, str, float, str, float]


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    if shutil.which("free"):
        memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.split()[7]
    redis_version = "not installed"
    if shutil.which("redis-server"):
        redis_version = (
            subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
            .stdout.split()[2]
            .removeprefix("v=")
        )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "redis": redis_version,
    }


def _ingest(f: dict[str, Any]) -> list[Row]:
    return [
        (
            "ingest",
            f"throughput, {f['connections']} connections (req/s)",
            f["real_rps"],
            "bare HMAC verify, same server",
            f["bare_rps"],
        ),
        (
            "ingest",
            "server CPU per request (us)",
            f["real_cpu_us"],
            "bare HMAC verify, same server",
            f["bare_cpu_us"],
        ),
        (
            "ingest",
            f"p99 latency at {f['rate']:.0f} req/s (ms)",
            f["real_p99_ms"],
            "bare HMAC verify, same server",
            f["bare_p99_ms"],
        ),
    ]


def _delivery(f: dict[str, Any]) -> list[Row]:
    b, ideal, base = f["batched"], f["ideal"], f["baseline"]
    return [
        (
            "delivery",
            f"drain time, {f['orders']} orders (s)",
            b["drain_seconds"],
            f"ideal: full batches at {f['rate_limit_per_minute']}/min",
            ideal["drain_seconds"],
        ),
        (
            "delivery",
            f"drain time, {f['orders']} orders (s)",
            b["drain_seconds"],
            "one request per event (extrapolated)",
            base["extrapolated_seconds"],
        ),
        (
            "delivery",
            "CRM requests",
            b["crm_requests"],
            "one request per event",
            base["extrapolated_requests"],
        ),
    ]


def _memory(f: dict[str, Any]) -> list[Row]:
    k = {name: value / 1024 for name, value in f["kib"].items()}
    return [
        (
            "memory",
            "web peak RSS (MiB)",
            k["web_peak"],
            "bare-HMAC server, same load",
            k["bare_peak"],
        ),
        (
            "memory",
            "web peak RSS (MiB)",
            k["web_peak"],
            "idle python: starlette, uvicorn",
            k["idle_web"],
        ),
        (
            "memory",
            "worker peak RSS (MiB)",
            k["worker_peak"],
            "idle python: rq, redis, httpx",
            k["idle_worker"],
        ),
    ]


def _run(name: str, quick: bool) -> dict[str, Any]:
    options = OPTIONS[name][0 if quick else 1]
    if name == "ingest":
        from bench.ingest import run as run_ingest

        return run_ingest(**options)
    if name == "delivery":
        from bench.delivery import run as run_delivery

        return run_delivery(**options)
    from bench.memory import run as run_memory

    return run_memory(**options)


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "ingest": _ingest,
    "delivery": _delivery,
    "memory": _memory,
}


def _number(value: float) -> str:
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}"


def format_table(results: dict[str, Any]) -> str:
    rows = [("benchmark", "measure", "ours", "baseline", "baseline value", "ratio")]
    for name in BENCHMARKS:
        if name in results["figures"]:
            for bench, measure, ours, baseline, theirs in ROWS[name](results["figures"][name]):
                ratio = f"{ours / theirs:.2f}" if theirs else "-"
                rows.append((bench, measure, _number(ours), baseline, _number(theirs), ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    m = results["machine"]
    lines.append(
        f"{'quick run' if results['quick'] else 'full run'}, {m['date']}: {m['cpus']} CPUs "
        f"({m['cpu']}), {m['memory']} RAM, Python {m['python']}, Redis {m['redis']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="short runs (a minute or so)")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--json", action="store_true", help="print every figure as JSON")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "figures": {}}
    for name in BENCHMARKS:
        if name in chosen:
            print(f"running the {name} benchmark...", file=sys.stderr, flush=True)
            results["figures"][name] = _run(name, args.quick)
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
