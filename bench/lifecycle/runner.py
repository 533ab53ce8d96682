"""N order lifecycles through `adapter serve` and `adapter worker` into the sandbox.

Both approaches run in the same run, on the same machine, against the same
redis-server and sandbox (reset in between, a fresh API key each):

- `this`: the code of this checkout;
- `today`: the tree of `--baseline-ref` (default: the commit before issue #12),
  extracted with `git archive` into a temporary directory and run from there
  (PYTHONPATH), so nothing of today's path needs to live on in the code.

Webhooks are signed deliveries POSTed over HTTP to `adapter serve`, the entry point
that stays the same whatever the delivery side looks like inside. The comparison runs
Shopify lifecycles through both approaches (today's tree has no other store); then
`this+stores` runs the same number of orders spread over Shopify, WooCommerce, Salla
and Paymob (see `orders`) through this code. Two modes:

- backlog: every webhook is accepted first, then the workers start;
- live: the workers run, and webhooks arrive at `--live-rate` a second.

Drained means: no delivery job and no outbox entry left. Reported: CRM requests per
webhook (every request the sandbox saw, over every webhook POSTed, re-deliveries
included), requests by endpoint, drain time against the ideal (the fewest requests
that can carry N orders — one /create-deals-bulk per 100 — at the rate limit), and
the time the requests would take at the CRM's real limit of 120 a minute. Then every
order's deal is read back from the sandbox and checked: exactly one deal, in its last
state (stage, value, and its source's status fields: financial and fulfilment status,
the WooCommerce or Salla order status, the Paymob outcome).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.lifecycle.orders import (
    PAYMOB_SECRET,
    SALLA_SECRET,
    SECRET,
    SOURCES,
    WOO_SECRET,
    Lifecycle,
    Webhook,
    lifecycles,
    webhooks,
)

ROOT = Path(__file__).resolve().parents[2]
BASELINE_REF = "0f4af84"  # main before issue #12
REAL_LIMIT = 120  # the CRM's documented requests a minute
OUTBOX_KINDS = ("deals", "contacts", "leads", "changes")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def _child(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    # run from the code's own directory: `python -m` puts the working directory first
    # on sys.path, ahead of PYTHONPATH, so another one would run another tree's code
    cwd = (env or {}).get("PYTHONPATH", str(ROOT))
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def extract(ref: str, into: Path) -> Path:
    """The tree of `ref` (this repository) as plain files under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


class Stack:
    """redis-server and the sandbox for the whole run."""

    def __init__(self, workdir: Path, rate_limit: int, stack: ExitStack) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.workdir = workdir
        self.rate_limit = rate_limit
        redis_port, sandbox_port = _free_port(), _free_port()
        argv = [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(workdir)]
        stack.enter_context(_child(argv, workdir / "redis.log"))
        sandbox = [sys.executable, "-m", "crm_sandbox", "--host", "127.0.0.1"]
        sandbox += ["--port", str(sandbox_port), "--rate-limit", str(rate_limit)]
        stack.enter_context(_child(sandbox, workdir / "sandbox.log", {"PYTHONPATH": str(ROOT)}))
        _wait(lambda: _port_open(redis_port) and _port_open(sandbox_port), 30, "the servers")
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        self.sandbox = f"http://127.0.0.1:{sandbox_port}"
        self.redis = redis.Redis.from_url(self.redis_url, decode_responses=True)
        self.control = httpx.Client(base_url=self.sandbox, timeout=60)

    def fresh(self, name: str) -> str:
        """Empty Redis and sandbox; a new API key."""
        self.redis.flushall()
        self.control.post("/_sandbox/reset").raise_for_status()
        response = self.control.post("/_sandbox/orgs", json={"name": name})
        response.raise_for_status()
        key: str = response.json()["api_key"]
        return key

    def env(self, code: Path, api_key: str) -> dict[str, str]:
        return {
            "PYTHONPATH": str(code),
            "REDIS_URL": self.redis_url,
            "CRM_BASE_URL": f"{self.sandbox}/functions/v1",
            "CRM_API_KEY": api_key,
            "CRM_RATE_LIMIT_PER_MINUTE": str(self.rate_limit),
            "SHOPIFY_WEBHOOK_SECRETS": SECRET,
            "WOOCOMMERCE_WEBHOOK_SECRETS": WOO_SECRET,
            "SALLA_WEBHOOK_SECRETS": SALLA_SECRET,
            "PAYMOB_HMAC_SECRETS": PAYMOB_SECRET,
            "LOG_LEVEL": "WARNING",
        }

    def pending(self) -> int:
        """Delivery jobs and outbox entries not finished yet."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen("rq:queue:deliveries")
        pipe.zcard("rq:wip:deliveries")
        pipe.zcard("rq:registry:started:deliveries")
        for kind in OUTBOX_KINDS:
            pipe.zcard(f"outbox:{kind}:ready")
            pipe.zcard(f"outbox:{kind}:leased")
        return sum(int(n) for n in pipe.execute())

    def drained(self) -> bool:
        if self.pending():
            return False
        time.sleep(0.3)  # a delivery between its job and its outbox entries
        return self.pending() == 0

    def close(self) -> None:
        self.redis.close()
        self.control.close()


def _post_all(port: int, hooks: list[Webhook], rate: float | None) -> None:
    """POST every webhook (in order; at `rate` a second when given); all must be 2xx."""
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    started = time.monotonic()

    def post(indexed: tuple[int, Webhook]) -> None:
        index, hook = indexed
        if rate:
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        response = client.post(hook.path, content=hook.body, headers=hook.headers())
        if response.status_code >= 300:
            raise RuntimeError(f"adapter serve answered {response.status_code}: {response.text}")

    try:
        with ThreadPoolExecutor(max_workers=4 if rate else 8) as pool:
            list(pool.map(post, enumerate(hooks)))
    finally:
        client.close()


def _verify(control: httpx.Client, api_key: str, cycles: list[Lifecycle]) -> dict[str, int]:
    deals: list[dict[str, Any]] = []
    while True:
        response = control.get(
            "/functions/v1/rest-api-proxy/deals",
            params={
                "select": "stage,value,custom_fields",
                "limit": "1000",
                "offset": str(len(deals)),
            },
            headers={"X-API-Key": api_key},
        )
        response.raise_for_status()
        page = response.json()
        deals.extend(page)
        if len(page) < 1000:
            break
    by_order: dict[str, list[dict[str, Any]]] = {}
    for deal in deals:
        key = str((deal.get("custom_fields") or {}).get("external_id"))
        by_order.setdefault(key, []).append(deal)
    right = wrong = missing = duplicated = 0
    for cycle in cycles:
        found = by_order.get(cycle.external_id, [])
        if not found:
            missing += 1
            continue
        if len(found) > 1:
            duplicated += 1
        want, deal = cycle.final, found[0]
        fields = deal.get("custom_fields") or {}
        got = (
            deal.get("stage"),
            Decimal(str(deal.get("value"))),
            tuple((name, fields.get(name)) for name, _ in want.fields),
        )
        if got == (want.stage, want.value, want.fields):
            right += 1
        else:
            wrong += 1
    return {
        "right": right,
        "wrong": wrong + missing + duplicated,
        "missing": missing,
        "duplicated": duplicated,
    }


def measure(
    stack: Stack,
    workdir: Path,
    approach: str,
    code: Path,
    mode: str,
    cycles: list[Lifecycle],
    workers: int,
    live_rate: float,
) -> dict[str, Any]:
    hooks = webhooks(cycles)
    orders = len(cycles)
    api_key = stack.fresh(f"{approach}-{mode}")
    env = stack.env(code, api_key)
    port = _free_port()
    with ExitStack() as procs:
        serve = [sys.executable, "-m", "adapter", "serve", "--port", str(port)]
        procs.enter_context(_child(serve, workdir / f"serve-{approach}-{mode}.log", env))
        _wait(lambda: _port_open(port), 60, "adapter serve")

        def start_workers() -> None:
            for n in range(workers):
                argv = [sys.executable, "-m", "adapter", "worker"]
                procs.enter_context(
                    _child(argv, workdir / f"worker-{approach}-{mode}-{n}.log", env)
                )

        if mode == "backlog":
            _post_all(port, hooks, None)
            started = time.monotonic()
            start_workers()
        else:
            start_workers()
            time.sleep(3.0)  # the workers' start-up is not part of the drain
            started = time.monotonic()
            _post_all(port, hooks, live_rate)
        _wait(stack.drained, 3600, "the adapter to drain", every=0.5)
        drain = time.monotonic() - started
    stats = stack.control.get("/_sandbox/stats").json()
    by_endpoint = {route: sum(codes.values()) for route, codes in sorted(stats["requests"].items())}
    requests = sum(by_endpoint.values())
    ideal_requests = math.ceil(orders / 100)
    return {
        "approach": approach,
        "mode": mode,
        "webhooks": len(hooks),
        "crm_requests": requests,
        "requests_per_webhook": requests / len(hooks),
        "by_endpoint": by_endpoint,
        "rate_limited_429": stats.get("rate_limited", 0),
        "drain_seconds": drain,
        "ideal_seconds": ideal_requests * 60.0 / stack.rate_limit,
        "seconds_at_120_a_minute": requests * 60.0 / REAL_LIMIT,
        "verified": _verify(stack.control, api_key, cycles),
    }


def run(
    orders: int = 1000,
    workers: int = 2,
    rate_limit: int = 3000,
    live_rate: float = 100.0,
    baseline_ref: str | None = BASELINE_REF,
    modes: list[str] | None = None,
) -> dict[str, Any]:
    shopify, mixed = lifecycles(orders, ("shopify",)), lifecycles(orders, SOURCES)
    workdir = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    approaches: list[tuple[str, Path, list[Lifecycle]]] = [("this", ROOT, shopify)]
    if baseline_ref:
        approaches.append(("today", extract(baseline_ref, workdir / "today"), shopify))
    approaches.append(("this+stores", ROOT, mixed))
    runs = []
    try:
        with ExitStack() as stack:
            servers = Stack(workdir, rate_limit, stack)
            stack.callback(servers.close)
            for mode in modes or ["backlog", "live"]:
                for approach, code, cycles in approaches:
                    runs.append(
                        measure(servers, workdir, approach, code, mode, cycles, workers, live_rate)
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "orders": orders,
        "webhooks": len(webhooks(lifecycles(orders, ("shopify",)))),
        "webhooks_with_stores": len(webhooks(lifecycles(orders, SOURCES))),
        "workers": workers,
        "rate_limit_per_minute": rate_limit,
        "live_rate_per_second": live_rate,
        "baseline_ref": baseline_ref,
        "runs": runs,
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['orders']} order lifecycles, {report['webhooks']} webhooks (Shopify), "
        f"{report['webhooks_with_stores']} (this+stores: Shopify, WooCommerce, Salla, Paymob "
        f"in turn); re-deliveries and late older updates included; {report['workers']} workers; "
        f"CRM limit {report['rate_limit_per_minute']}/min; live at "
        f"{report['live_rate_per_second']:g} webhooks/s; today = {report['baseline_ref']}",
        "",
        f"{'mode':8} {'approach':11} {'requests':>8} {'per webhook':>11} {'drain s':>8} "
        f"{'ideal s':>7} {'at 120/min':>10} {'right':>6} {'wrong':>5}",
    ]
    for r in report["runs"]:
        v = r["verified"]
        lines.append(
            f"{r['mode']:8} {r['approach']:11} {r['crm_requests']:>8} "
            f"{r['requests_per_webhook']:>11.4f} {r['drain_seconds']:>8.1f} "
            f"{r['ideal_seconds']:>7.1f} {r['seconds_at_120_a_minute'] / 60:>8.1f}mn "
            f"{v['right']:>6} {v['wrong']:>5}"
        )
    lines.append("")
    for r in report["runs"]:
        parts = ", ".join(f"{route} {n}" for route, n in r["by_endpoint"].items())
        lines.append(f"{r['mode']}/{r['approach']}: {parts}")
    return "\n".join(lines)
