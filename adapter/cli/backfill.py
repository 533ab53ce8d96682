"""`adapter backfill`: historical orders from a file into the CRM, through the outbox."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from adapter.cli.config import EXIT_INVALID, add_config_argument, load_settings_or_exit
from adapter.settings import Settings

if TYPE_CHECKING:
    from workers.backfill import Progress

HELP = (
    "Queue historical orders (Shopify's order export CSV, or JSON lines of orders) for "
    "delivery to the CRM, resumably."
)
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
MAX_ERRORS_SHOWN = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=["shopify"], required=True)
    parser.add_argument("file", type=Path, metavar="FILE", help="orders_export.csv or orders.jsonl")
    parser.add_argument(
        "--shop",
        help="the shop's myshopify.com domain, as its webhooks name it "
        "(default: the one shop of SHOPIFY_SHOP_SECRETS)",
    )
    parser.add_argument(
        "--format", choices=["csv", "jsonl"], help="file format (default: from the file)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        dest="restart",
        action="store_false",
        help="continue after the last order queued by an earlier run of this file (default)",
    )
    mode.add_argument(
        "--restart", dest="restart", action="store_true", help="forget the checkpoint, start over"
    )
    # store_false would otherwise make --resume's default (True) the default
    parser.set_defaults(restart=False)
    parser.add_argument(
        "--max-backlog",
        type=int,
        default=5000,
        metavar="N",
        help="wait while the outbox holds more than N entries, so live events keep "
        "flowing (default 5000; 0: no limit)",
    )
    add_config_argument(parser)


def resolve_shop(settings: Settings, shop: str | None) -> str | None:
    if shop:
        return shop.strip().lower()
    shops = list(settings.shopify_shop_secrets)
    return shops[0].lower() if len(shops) == 1 else None


def run(args: argparse.Namespace) -> int:
    import redis

    from adapter.cli.config import mask_url
    from workers.backfill import Job, run_backfill
    from workers.backfill_files import OrderFileError
    from workers.context import Context

    settings = load_settings_or_exit(args.config)
    if not args.file.is_file():
        print(f"adapter backfill: no such file: {args.file}", file=sys.stderr)
        return EXIT_INVALID
    shop = resolve_shop(settings, args.shop)
    if shop is None:
        print(
            "adapter backfill: pass --shop your-shop.myshopify.com (external ids name the "
            "shop, so they must match its webhooks)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    job = Job(
        path=args.file,
        shop=shop,
        file_format=args.format,
        restart=args.restart,
        max_backlog=args.max_backlog,
    )
    bar = ProgressBar(sys.stderr)
    ctx = Context(settings)
    try:
        progress = run_backfill(ctx, job, bar.update)
    except OrderFileError as exc:
        bar.close()
        print(f"adapter backfill: {args.file}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except redis.RedisError as exc:
        bar.close()
        url = mask_url(settings.redis_url)
        print(f"adapter backfill: Redis at {url}: {type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        bar.close()
        print("adapter backfill: interrupted; run it again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        ctx.close()
    bar.close()
    print(summary(job.path, shop, progress))
    return 0


def summary(path: Path, shop: str, progress: Progress) -> str:
    lines = [f"Backfill of {path.name} for {shop}:"]
    if progress.finished_before:
        lines.append("  finished by an earlier run (--restart queues it again)")
    lines += [
        f"  orders read     {progress.done} (through row {progress.rows})",
        f"  queued          {progress.queued}",
        f"  already done    {progress.already_done} (queued by an earlier run)",
        f"  skipped         {progress.skipped} (nothing to record)",
        f"  mapping errors  {len(progress.errors)}",
    ]
    for row, reason in progress.errors[:MAX_ERRORS_SHOWN]:
        lines.append(f"    row {row}: {reason}")
    if len(progress.errors) > MAX_ERRORS_SHOWN:
        lines.append(f"    ... and {len(progress.errors) - MAX_ERRORS_SHOWN} more")
    if progress.queued:
        lines.append("Workers deliver the queued orders; `adapter status` shows the outbox.")
    return "\n".join(lines)


class ProgressBar:
    """Plain text on stderr: redrawn in place on a terminal, a line per tenth elsewhere."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._drawn = False
        self._last_draw = 0.0
        self._last_tenth = -1
        self._last_wait = 0.0

    def update(self, progress: Progress) -> None:
        total = max(progress.total, 1)
        line = (
            f"{self._bar(progress.done / total)} {progress.done}/{progress.total} orders"
            f"  queued {progress.queued}  done before {progress.already_done}"
            f"  errors {len(progress.errors)}"
        )
        now = time.monotonic()
        if progress.waiting:
            if now - self._last_wait >= (1 if self.tty else 10):
                self._last_wait = now
                self._emit(f"{line}  (waiting: {progress.waiting})")
            return
        if self.tty:
            if now - self._last_draw >= 0.1 or progress.done >= progress.total:
                self._last_draw = now
                self._emit(line)
            return
        tenth = progress.done * 10 // total
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self._emit(line)

    def _bar(self, fraction: float) -> str:
        filled = int(self.WIDTH * min(fraction, 1.0))
        return f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%}"

    def _emit(self, line: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
