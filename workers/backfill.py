"""Backfill: historical orders from a file into the outbox, the way live orders go.

Each order becomes the delivery Shopify would send for it (`orders/create`, the
shop's domain) and is mapped by `adapter.mapping`; its commands are queued with
`intake.queue_commands`, so batching, the rate limit, retries and effectively-once
delivery are the live ones. Nothing here talks to the CRM.

Resuming: orders are queued in chunks, each in one atomic outbox write keyed by a
once-marker (`backfill:<file>:<run>:<first order>`), and after each chunk a
checkpoint in Redis (per file digest and shop) records how many orders are done. A
run killed between the write and the checkpoint finds the marker on the next run
and skips the chunk; a run killed anywhere else resumes at the checkpoint. The
delivery side deduplicates anyway (the same external id and `updated_at` is not
sent twice), so `restart` only costs time.

Back-pressure: before each chunk the backfill waits while the outbox holds more
than `max_backlog` entries, so that a large file never stands between live events
and the CRM for long.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from adapter.crm.commands import AnyCommand
from adapter.mapping import MappingError, map_delivery
from adapter.webhook import WebhookDelivery
from workers.backfill_files import FileFormat, OrderRecord, read_orders
from workers.context import Context
from workers.intake import queue_commands
from workers.privacy import scrub
from workers.status import read_status

CHECKPOINT_PREFIX = "backfill:checkpoint:"
ONCE_PREFIX = "backfill:once:"
CHECKPOINT_TTL = 90 * 24 * 3600
TOPIC = "orders/create"
CHUNK = 100
# mapping errors kept in the checkpoint for the summary
MAX_ERRORS_KEPT = 1000


@dataclass
class Progress:
    """Where a run is, for the progress bar and the summary."""

    total: int
    done: int = 0
    rows: int = 0
    queued: int = 0
    already_done: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    waiting: str | None = None
    resumed_at: int = 0
    finished_before: bool = False


# called after every chunk, and every second while waiting for the outbox
Report = Callable[[Progress], None]


def _no_report(progress: Progress) -> None:
    return None


@dataclass(frozen=True)
class Job:
    path: Path
    shop: str
    file_format: FileFormat | None = None
    restart: bool = False
    max_backlog: int = 5000
    chunk: int = CHUNK


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_key(digest: str, shop: str) -> str:
    return f"{CHECKPOINT_PREFIX}{digest}:{shop}"


class Checkpoint:
    """The last order committed to the outbox, and the counts so far, in one hash."""

    def __init__(self, ctx: Context, key: str) -> None:
        self.redis = ctx.redis
        self.key = key

    def load(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.redis.hgetall(self.key).items()}

    def start(self, run: str) -> None:
        self.redis.delete(self.key)
        self.save({"run": run, "done": 0, "started_at": _now()})

    def save(self, fields: dict[str, Any]) -> None:
        self.redis.hset(self.key, mapping={k: str(v) for k, v in fields.items()})
        self.redis.expire(self.key, CHECKPOINT_TTL)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def count_orders(job: Job) -> int:
    return sum(1 for _ in read_orders(job.path, job.file_format))


def _chunks(records: Iterable[OrderRecord], size: int) -> Iterator[list[OrderRecord]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def map_order(record: OrderRecord, shop: str, ctx: Context) -> list[AnyCommand]:
    """The commands of one order, as for a live `orders/create`; MappingError if none."""
    if record.order is None:
        raise MappingError(record.error or "unreadable order")
    delivery = WebhookDelivery(
        source="shopify",
        topic=TOPIC,
        delivery_id=f"backfill:{shop}:{record.row}",
        received_at=datetime.now(UTC),
        shop_domain=shop,
        payload=record.order,
    )
    return map_delivery(delivery, ctx.settings.mapping, ctx.settings.forms)


def run_backfill(ctx: Context, job: Job, report: Report = _no_report) -> Progress:
    """Queue the file's orders, from the checkpoint on, in the shop's tenant; the final
    counts."""
    ctx = ctx.for_tenant(ctx.router.tenant_of("shopify", job.shop))
    digest = file_digest(job.path)
    checkpoint = Checkpoint(ctx, checkpoint_key(digest, job.shop))
    saved = {} if job.restart else checkpoint.load()
    progress = Progress(total=count_orders(job))
    if not saved.get("run"):
        run = uuid.uuid4().hex[:12]
        checkpoint.start(run)
        saved = {}
    else:
        run = saved["run"]
        _resume(progress, saved)
    if progress.finished_before:
        report(progress)
        return progress
    origin = f"backfill:{job.path.name}"
    for chunk in _chunks(read_orders(job.path, job.file_format), job.chunk):
        first = progress.done
        if first + len(chunk) <= progress.resumed_at:
            progress.done += len(chunk)
            progress.rows = chunk[-1].last_row
            continue
        commands: list[AnyCommand] = []
        queued = skipped = 0
        for record in chunk:
            try:
                mapped = map_order(record, job.shop, ctx)
            except MappingError as exc:
                progress.errors.append((record.row, exc.reason))
                continue
            except Exception as exc:  # a mapper bug must not stop the other orders
                progress.errors.append((record.row, scrub(f"{type(exc).__name__}: {exc}")))
                continue
            if mapped:
                commands.extend(mapped)
                queued += 1
            else:
                skipped += 1
        _wait_for_room(ctx, job.max_backlog, progress, report)
        once = f"{ONCE_PREFIX}{digest}:{job.shop}:{run}:{first}"
        added = queue_commands(
            ctx,
            commands,
            origin=f"{origin}:rows {chunk[0].row}-{chunk[-1].last_row}",
            once_key=once,
        )
        if added is None:  # an earlier run queued this chunk and died before its checkpoint
            progress.already_done += queued
        else:
            progress.queued += queued
        progress.skipped += skipped
        progress.done += len(chunk)
        progress.rows = chunk[-1].last_row
        checkpoint.save(_counts(progress))
        report(progress)
    checkpoint.save({**_counts(progress), "finished_at": _now()})
    return progress


def _resume(progress: Progress, saved: dict[str, str]) -> None:
    progress.resumed_at = int(saved.get("done", 0))
    # what earlier runs did counts as already done; their errors are still errors
    progress.already_done = int(saved.get("queued", 0)) + int(saved.get("already_done", 0))
    progress.skipped = int(saved.get("skipped", 0))
    progress.errors = [(int(row), reason) for row, reason in json.loads(saved.get("errors", "[]"))]
    progress.finished_before = "finished_at" in saved
    if progress.finished_before:
        progress.done = progress.resumed_at
        progress.rows = int(saved.get("rows", 0))


def _counts(progress: Progress) -> dict[str, Any]:
    return {
        "done": progress.done,
        "rows": progress.rows,
        "queued": progress.queued,
        "already_done": progress.already_done,
        "skipped": progress.skipped,
        "errors": json.dumps(progress.errors[:MAX_ERRORS_KEPT]),
    }


def _wait_for_room(ctx: Context, max_backlog: int, progress: Progress, report: Report) -> None:
    if max_backlog <= 0:
        return
    while (backlog := ctx.outbox.size()) > max_backlog:
        workers = read_status(ctx.redis)["workers"]
        progress.waiting = f"outbox holds {backlog} entries" + (
            "" if workers else "; no worker is running (start `adapter worker`)"
        )
        report(progress)
        time.sleep(1.0)
    progress.waiting = None
