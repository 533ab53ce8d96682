"""`adapter status`: queues, outbox, dead letters, rate limit and workers, from Redis."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adapter.cli.failures import EXIT_UNAVAILABLE

if TYPE_CHECKING:
    from adapter.ops.state import Snapshot, TenantState

# the columns of adapter.metrics.source_counts (not imported here: `adapter --help` stays fast)
COLUMNS = ("queued", "duplicate", "ignored", "spam", "rejected")

HELP = "Show queue depths, the outbox, dead letters, the CRM rate limit and worker heartbeats."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--config", help="TOML config file (default: $ADAPTER_CONFIG)")


def _when(at: float | None) -> str:
    if not at:
        return "never"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _rows(headers: list[str], rows: list[list[Any]]) -> list[str]:
    table = [headers, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = []
    for row in table:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def format_text(
    snapshot: Snapshot,
    webhooks: dict[str, dict[str, int]],
    avoided: dict[str, int] | None = None,
) -> str:
    lines = [f"crm-adapter status at {_when(snapshot.taken_at)}", ""]
    lines.append(f"Workers: {len(snapshot.workers)} alive")
    for name, info in sorted(snapshot.workers.items()):
        ago = max(0.0, snapshot.taken_at - float(info.get("at", 0)))
        queues = ",".join(info.get("queues", []))
        lines.append(
            f"  {name}  host {info.get('host')}  pid {info.get('pid')}  "
            f"queues {queues}  heartbeat {ago:.0f}s ago"
        )
    if snapshot.ledger is not None:
        held = snapshot.ledger
        lines += [
            "",
            f"Delivery ledger: {held.waiting} waiting, {held.mapping} being mapped, "
            f"{held.retained} retained ({held.stored_mb} MB)",
        ]
    lines += ["", "RQ queues (bells and flush jobs):"]
    lines += _rows(
        ["queue", "queued", "started", "failed", "deferred", "scheduled"],
        [[q.name, q.queued, q.started, q.failed, q.deferred, q.scheduled] for q in snapshot.queues],
    )
    lines += ["", f"Outbox: {snapshot.outbox_total} command(s)"]
    lines += _rows(
        ["kind", "entries", "due", "leased", "oldest due (s)"],
        [
            [o.kind, o.total, o.due, o.leased, f"{o.oldest_due_seconds:.1f}"]
            for o in snapshot.outbox
        ],
    )
    limit = snapshot.rate_limit
    paused = f"paused for {limit.paused_for:.1f}s (429)" if limit.paused_for else "not paused"
    lines += [
        "",
        f"In flight: {limit.in_flight} / {limit.max_in_flight}",
        f"Rate limit: {limit.window_requests} request(s) in the current window of "
        f"{limit.per_minute} a minute; next admit in {limit.next_admit_in:.1f}s; {paused}",
        f"Dead letters: {snapshot.dead_letters}"
        + ("  (adapter deadletter list)" if snapshot.dead_letters else ""),
        f"Failed jobs: {snapshot.failed_jobs}",
        f"Last CRM success: {_when(snapshot.last_crm_success)}",
    ]
    error = snapshot.last_crm_error
    if error:
        status = f" {error.get('status')}" if error.get("status") else ""
        lines.append(
            f"Last CRM error: {_when(float(error.get('at', 0)))} "
            f"{error.get('type', '')}{status}: {error.get('message', '')}"
        )
    else:
        lines.append("Last CRM error: none")
    if avoided is not None:
        lines.append(
            "CRM writes avoided: "
            + ", ".join(f"{avoided.get(r, 0)} {r}" for r in ("coalesced", "noop", "grouped"))
            + f"; PATCHes without a GET: {avoided.get('no_read', 0)}"
        )
    if snapshot.tenants:
        lines += ["", "Tenants:"]
        lines += _rows(
            ["tenant", "outbox", "due", "oldest due (s)", "in flight", "per minute", "CRM"],
            [
                [
                    t.name,
                    t.outbox_total,
                    t.outbox_due,
                    f"{t.oldest_due_seconds:.1f}",
                    f"{t.in_flight}/{t.max_in_flight}",
                    t.per_minute,
                    _tenant_crm(t),
                ]
                for t in snapshot.tenants
            ],
        )
    lines += ["", "Webhooks since the counters began:"]
    lines += _rows(
        ["source", *COLUMNS],
        [[source, *(row.get(c, 0) for c in COLUMNS)] for source, row in sorted(webhooks.items())],
    )
    return "\n".join(lines)


def _tenant_crm(tenant: TenantState) -> str:
    if tenant.key_refused is not None:
        since = _when(float(tenant.key_refused.get("since", 0)))
        return f"KEY REFUSED ({tenant.key_refused.get('status')}) since {since}: waiting"
    if tenant.paused_for:
        return f"paused {tenant.paused_for:.1f}s (429)"
    return f"ok, last success {_when(tenant.last_crm_success)}"


def run(args: argparse.Namespace) -> int:
    import redis

    from adapter import metrics
    from adapter.cli.target import load_target
    from adapter.ops.state import Reader

    # the running dev mode's Redis when REDIS_URL names none
    settings = load_target(args.config).settings
    reader = Reader.connect(settings)
    try:
        snapshot = reader.snapshot()
        webhooks = metrics.source_counts(metrics.read_counter(reader.text, metrics.DELIVERIES))
        avoided = {
            labels[0]: n
            for labels, n in metrics.read_counter(reader.text, metrics.WRITES_AVOIDED).items()
        }
    except (redis.RedisError, OSError) as exc:
        print(f"adapter status: Redis does not answer ({type(exc).__name__})", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        reader.close()
    if args.json:
        print(
            json.dumps(
                {**snapshot.as_dict(), "webhooks": webhooks, "writes_avoided": avoided}, indent=2
            )
        )
    else:
        print(format_text(snapshot, webhooks, avoided))
    return 0
