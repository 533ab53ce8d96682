"""`adapter replay`: map stored deliveries again (after a mapping fix), never duplicating.

The chosen deliveries go back into the ledger's `ready` set (`Ledger.requeue`), and
the workers take, map and queue them as they did the first time. A replay counts in
the delivery's outbox once-key, so its commands are queued again; the CRM side stays
effectively once through the senders' own checks (deterministic external ids,
`skip_if_exists`, the id map: a command already applied is skipped without a request).

This command waits while the workers settle them, showing progress, then a summary; a
delivery that maps now has its old dead letters dropped (its new commands replace them).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from adapter.cli.config import EXIT_INVALID, add_config_argument
from adapter.cli.failures import EXIT_UNAVAILABLE

if TYPE_CHECKING:
    from adapter.ledger import DeliveryRecord
    from adapter.ops.state import Reader

HELP = (
    "Map stored deliveries again after a mapping fix: by delivery id, external id, time "
    "range, source/topic, or --dead; the CRM gets no duplicates."
)
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="delivery ids, external ids (every retained delivery that touched the record) "
        "or ledger digests",
    )
    parser.add_argument("--dead", action="store_true", help="every delivery that dead-lettered")
    parser.add_argument(
        "--since", type=when_arg, help="received at or after: ISO 8601 time, or 30m / 2h / 1d ago"
    )
    parser.add_argument("--until", type=when_arg, help="received at or before (same forms)")
    parser.add_argument("--source", help="only this source (shopify, stripe, form)")
    parser.add_argument("--topic", help="only this topic")
    parser.add_argument(
        "--limit", type=int, default=10_000, help="at most this many (default 10000)"
    )
    parser.add_argument("--dry-run", action="store_true", help="list them, replay nothing")
    parser.add_argument(
        "--no-wait", action="store_true", help="queue them and exit without waiting"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the workers (default 300)",
    )
    add_config_argument(parser)


def when_arg(text: str) -> datetime:
    """An ISO 8601 time (UTC if it names no zone), or a span ago: 90s, 30m, 2h, 1d."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        seconds = float(relative.group(1)) * _UNIT[relative.group(2)]
        return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        found = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 2026-12-01T10:00:00Z or 30m, 2h, 1d"
        ) from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def select(reader: Reader, args: argparse.Namespace) -> list[DeliveryRecord]:
    """The deliveries the arguments name, oldest first, each once."""
    chosen: dict[str, DeliveryRecord] = {}
    for ident in args.ids:
        for record in reader.tracer.find(ident):
            chosen[record.digest] = record
    ranged = args.since or args.until or args.source or args.topic
    if args.dead or (ranged and not args.ids):
        listed = reader.ledger.listing(
            since=args.since,
            until=args.until,
            source=args.source,
            topic=args.topic,
            limit=10_000_000,
        )
        if args.dead:
            refused = {
                letter.origin
                for letter in reader.downstream.command_letters(r.delivery_id for r in listed)
            }
            listed = [r for r in listed if r.state == "dead" or r.delivery_id in refused]
        chosen.update((r.digest, r) for r in listed)
    found = [
        r
        for r in chosen.values()
        if (args.source is None or r.source == args.source)
        and (args.topic is None or r.topic == args.topic)
    ]
    found.sort(key=lambda r: (r.received_at or datetime.min.replace(tzinfo=UTC), r.digest))
    return found[: args.limit]


@dataclass
class Tally:
    queued: int
    skipped: int  # not settled when chosen: already waiting for a worker
    mapped: int = 0
    dead: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    letters_dropped: int = 0

    @property
    def settled(self) -> int:
        return self.mapped + self.dead


class Progress:
    """On stderr: redrawn in place on a terminal, a line per tenth elsewhere."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.tty = stream.isatty()
        self.last = -1

    def show(self, tally: Tally) -> None:
        line = f"replayed {tally.settled}/{tally.queued}  mapped {tally.mapped}  dead {tally.dead}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        elif tally.settled * 10 // self.total != self.last:
            self.last = tally.settled * 10 // self.total
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def wait_settled(
    reader: Reader, digests: list[str], tally: Tally, timeout: float, progress: Progress
) -> list[str]:
    """Poll the ledger until every delivery settled again; the digests still waiting."""
    pending = list(digests)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        still: list[str] = []
        for digest in pending:
            record = reader.ledger.get(digest)
            if record is None:
                continue  # forgotten meanwhile (a redaction)
            if record.state == "mapped":
                tally.mapped += 1
                tally.letters_dropped += drop_letters(reader, record)
            elif record.state == "dead":
                tally.dead += 1
                tally.reasons[record.reason or "unknown"] += 1
            else:
                still.append(digest)
        pending = still
        progress.show(tally)
        if pending:
            time.sleep(0.2)
    return pending


def drop_letters(reader: Reader, record: DeliveryRecord) -> int:
    """The delivery maps now: its dead letters are replaced by the commands just queued."""
    dropped = int(reader.downstream.drop_delivery_letter(record.delivery_id))
    for letter in reader.downstream.command_letters([record.delivery_id]):
        dropped += int(reader.deadletters.drop(letter.id))
    return dropped


def summary(tally: Tally, waiting: int) -> str:
    lines = [
        "Replay:",
        f"  queued again    {tally.queued}",
        f"  mapped          {tally.mapped} (commands queued; the CRM skips what it has)",
        f"  dead-lettered   {tally.dead}",
    ]
    for reason, count in tally.reasons.most_common(10):
        lines.append(f"    {count} x {reason}")
    if tally.skipped:
        lines.append(f"  not replayed    {tally.skipped} (not settled yet: a worker has them)")
    if tally.letters_dropped:
        lines.append(f"  dead letters dropped  {tally.letters_dropped} (replaced by the replay)")
    if waiting:
        lines.append(f"  still waiting   {waiting} (workers busy or stopped: `adapter status`)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import redis

    from adapter.cli.target import load_target
    from adapter.cli.trace import redis_down, when
    from adapter.ops.state import Reader

    if not (args.ids or args.dead or args.since or args.until or args.source or args.topic):
        print(
            "adapter replay: name what to replay: delivery or external ids, --dead, "
            "--since/--until, --source/--topic",
            file=sys.stderr,
        )
        return EXIT_INVALID
    settings = load_target(args.config).settings
    reader = Reader.connect(settings)
    progress: Progress | None = None
    try:
        chosen = select(reader, args)
        if not chosen:
            print("adapter replay: no retained delivery matches", file=sys.stderr)
            return EXIT_FAILED
        if args.dry_run:
            for r in chosen:
                print(
                    f"{when(r.received_at.timestamp() if r.received_at else None)}  "
                    f"{r.source}  {r.topic}  {r.delivery_id}  {r.state}"
                )
            print(f"{len(chosen)} deliveries would be replayed")
            return 0
        settled = [r.digest for r in chosen if r.state in ("mapped", "dead")]
        queued = reader.ledger.requeue(settled)
        tally = Tally(queued=queued, skipped=len(chosen) - queued)
        alive = reader.snapshot().workers
        if args.no_wait or not alive:
            if not alive:
                print(
                    f"adapter replay: {queued} deliveries queued again; no worker is running: "
                    "they are mapped once `adapter worker` runs",
                    file=sys.stderr,
                )
            print(summary(tally, queued))
            return 0
        progress = Progress(sys.stderr, queued)
        waiting = wait_settled(reader, settled, tally, args.timeout, progress)
        progress.close()
        progress = None
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        print(
            "adapter replay: interrupted; the queued deliveries are still mapped by the workers",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except (redis.RedisError, OSError) as exc:
        print(redis_down("replay", settings.redis_url, exc), file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        reader.close()
    print(summary(tally, len(waiting)))
    return 0 if not waiting and tally.dead == 0 else EXIT_FAILED
