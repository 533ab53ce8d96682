"""`adapter trace`: where a delivery is, step by step (received, mapped, outbox, delivered
or dead-lettered), by delivery id, external id or ledger digest."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapter.cli.config import add_config_argument
from adapter.cli.failures import EXIT_UNAVAILABLE

if TYPE_CHECKING:
    from adapter.ops.trace import Trace

HELP = (
    "Show where a delivery is: received, mapped (its commands), in the outbox, delivered "
    "(CRM ids) or dead-lettered (why). No body, no secret, no personal data."
)
EXIT_NOT_FOUND = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ident",
        metavar="ID",
        help="a delivery id (X-Shopify-Webhook-Id, Stripe's event id, a form's), an "
        "external id (shopify:<shop>:order:<id>: every retained delivery that touched "
        "it) or a ledger digest",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_config_argument(parser)


def redis_down(command: str, url: str, exc: BaseException) -> str:
    """The one line a command prints when Redis does not answer."""
    from adapter.cli.config import mask_url

    return f"adapter {command}: Redis at {mask_url(url)} does not answer ({type(exc).__name__})"


def when(at: float | None) -> str:
    if at is None:
        return " " * 19
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_trace(trace: Trace) -> str:
    lines = [
        f"delivery {trace.delivery_id}  ({trace.source} {trace.topic}, {trace.scope})",
        f"  outcome: {trace.outcome}",
        f"  tenant: {trace.tenant}",
    ]
    for step in trace.steps:
        lines.append(f"  {when(step.at)}  {step.name:<9}  {step.text}")
        for command in step.detail.get("commands", []) if step.name == "mapped" else []:
            lines.append(
                f"  {'':19}  {'':9}    {command['kind']} {command['external_id']}"
                f"  ({command['summary']})"
            )
    lines.append(f"  digest {trace.digest}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import redis

    from adapter.cli.target import load_target
    from adapter.ops.state import Reader

    # the running dev mode's Redis when REDIS_URL names none
    settings = load_target(args.config).settings
    reader = Reader.connect(settings)
    try:
        records = reader.tracer.find(args.ident)
        traces = [reader.tracer.trace(record) for record in records]
    except (redis.RedisError, OSError) as exc:
        print(redis_down("trace", settings.redis_url, exc), file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        reader.close()
    if not traces:
        print(
            f"adapter trace: no retained delivery {args.ident!r} (deliveries are kept "
            f"{settings.delivery_retention_hours:g} h after they settle)",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    if args.json:
        print(json.dumps({"deliveries": [t.as_dict() for t in traces]}, indent=2))
    else:
        print("\n\n".join(format_trace(t) for t in traces))
    return 0
