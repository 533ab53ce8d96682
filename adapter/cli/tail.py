"""`adapter tail`: a live line per delivery as it moves, like `stripe listen`.

    verified -> mapped -> delivered (CRM ids) | dead-lettered (why);  rejected (why)

Reads the event stream (`adapter.events`) with XREAD BLOCK. Events carry no personal
data. Colour only on a terminal, and never with NO_COLOR set (https://no-color.org).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from adapter.cli.config import add_config_argument
from adapter.cli.failures import EXIT_UNAVAILABLE

if TYPE_CHECKING:
    from adapter.events import Event
    from adapter.ledger import Ledger

HELP = (
    "Follow deliveries live: verified or rejected (why), mapped, delivered (CRM ids), "
    "dead-lettered (why); --source/--topic filter."
)

_COLOURS = {
    "verified": "36",  # cyan
    "rejected": "31",  # red
    "mapped": "34",  # blue
    "delivered": "32",  # green
    "dead": "1;31",  # bold red
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="only this source (shopify, stripe, form)")
    parser.add_argument("--topic", help="only this topic (orders/create, a Stripe event, a form)")
    parser.add_argument(
        "--last", type=int, default=0, metavar="N", help="first show the last N events"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    add_config_argument(parser)


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


def describe(event: Event) -> str:
    """What happened, in a few words."""
    if event.kind == "verified":
        outcome = event.get("outcome", "queued")
        return "verified" if outcome == "queued" else f"verified ({outcome})"
    if event.kind == "rejected":
        return f"rejected {event.get('status')}: {event.get('reason')}"
    if event.kind == "mapped":
        return f"mapped -> {event.get('commands', '0')} command(s)"
    if event.kind == "delivered":
        ids = [
            f"{name} {event.get(f'{name}_id')}"
            for name in ("deal", "contact")
            if event.get(f"{name}_id")
        ]
        return f"delivered {event.get('external_id')}" + (f"  {', '.join(ids)}" if ids else "")
    if event.kind == "dead":
        what = f" {event.get('external_id')}" if event.get("external_id") else ""
        return f"dead-lettered{what}: {event.get('reason')}"
    return event.kind


def format_line(event: Event, source: str, topic: str, colour: bool) -> str:
    stamp = datetime.fromtimestamp(event.at).strftime("%H:%M:%S")
    what = describe(event)
    if colour:
        code = _COLOURS.get(event.kind, "0")
        what = f"\x1b[{code}m{what}\x1b[0m"
    ident = event.get("id") or "-"
    return f"{stamp}  {source or '-':<7}  {topic or '-':<28}  {ident}  {what}"


class Origins:
    """Source and topic of the delivery an event names (delivered and dead-lettered
    commands name only the delivery id): from earlier events, else from the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.known: dict[str, tuple[str, str]] = {}

    def of(self, event: Event) -> tuple[str, str]:
        ident = event.get("id")
        if event.get("source"):
            found = (event.get("source"), event.get("topic"))
            if ident:
                self.known[ident] = found
                if len(self.known) > 50_000:
                    self.known.pop(next(iter(self.known)))
            return found
        if ident and ident not in self.known:
            record = self.ledger.get_by_delivery_id(ident)
            self.known[ident] = (record.source, record.topic) if record else ("", "")
        return self.known.get(ident, ("", ""))


def run(args: argparse.Namespace) -> int:
    import redis

    from adapter import events
    from adapter.cli.target import load_target
    from adapter.cli.trace import redis_down
    from adapter.ops.state import Reader

    # the running dev mode's Redis when REDIS_URL names none
    settings = load_target(args.config).settings
    reader = Reader.connect(settings, timeout=10.0)
    origins = Origins(reader.ledger)
    colour = use_colour(sys.stdout)
    try:
        backlog = events.latest(reader.text, args.last) if args.last > 0 else []
        after = backlog[-1].id if backlog else events.last_id(reader.text)
        if not args.json:
            print("Following deliveries (Ctrl-C to stop)...", file=sys.stderr, flush=True)
        while True:
            found = backlog or events.read(reader.text, after, block_ms=2000)
            backlog = []
            for event in found:
                after = event.id
                source, topic = origins.of(event)
                if args.source and source != args.source:
                    continue
                if args.topic and topic != args.topic:
                    continue
                if args.json:
                    line = json.dumps({"at": event.at, "kind": event.kind, **event.fields})
                else:
                    line = format_line(event, source, topic, colour)
                print(line, flush=True)
    except KeyboardInterrupt:
        return 0
    except (redis.RedisError, OSError) as exc:
        print(redis_down("tail", settings.redis_url, exc), file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        reader.close()
