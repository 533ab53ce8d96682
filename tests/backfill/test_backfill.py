"""Backfill into the outbox (real Redis, no worker): mapping, checkpoints, resuming."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapter.crm.commands import UpsertDeal
from adapter.mapping import map_delivery
from adapter.settings import Settings
from adapter.webhook import WebhookDelivery
from tests.backfill.export import write_export
from workers import backfill
from workers.backfill import Job, Progress, run_backfill
from workers.backfill_files import read_orders
from workers.context import Context
from workers.outbox import Kind

SHOP = "riyadh-oud.myshopify.com"


@pytest.fixture
def ctx(redis_url: str) -> Iterator[Context]:
    context = Context(Settings(redis_url=redis_url))
    yield context
    context.close()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "orders_export.csv"
    write_export(path, 5)
    return path


def queued_external_ids(ctx: Context) -> list[str]:
    return sorted(entry.command.external_id for _, entry in ctx.outbox.entries(Kind.DEALS))


def test_each_order_is_queued_as_its_live_webhook_would_be(ctx: Context, export: Path) -> None:
    progress = run_backfill(ctx, Job(export, SHOP))

    first = next(read_orders(export)).order
    assert first is not None
    live = WebhookDelivery(
        source="shopify",
        topic="orders/create",
        delivery_id="live",
        received_at=datetime.now(UTC),
        shop_domain=SHOP,
        payload=first,
    )
    # the deal (a CompleteContact for its contact follows it)
    expected, *_ = map_delivery(live, ctx.settings.mapping)
    [(_, entry)] = [e for e in ctx.outbox.entries(Kind.DEALS) if e[1].command == expected]
    assert isinstance(entry.command, UpsertDeal)
    assert entry.command.external_id == f"shopify:{SHOP}:order:5900000001001"
    assert (progress.done, progress.queued, progress.errors) == (5, 5, [])
    assert len(queued_external_ids(ctx)) == 5


def test_a_finished_file_is_not_queued_again(ctx: Context, export: Path) -> None:
    run_backfill(ctx, Job(export, SHOP))

    again = run_backfill(ctx, Job(export, SHOP))

    assert again.finished_before
    assert (again.queued, again.already_done) == (0, 5)
    assert len(queued_external_ids(ctx)) == 5


def test_restart_queues_the_file_again(ctx: Context, export: Path) -> None:
    run_backfill(ctx, Job(export, SHOP))

    again = run_backfill(ctx, Job(export, SHOP, restart=True))

    assert (again.finished_before, again.queued, again.already_done) == (False, 5, 0)


def test_a_run_killed_before_its_checkpoint_does_not_queue_that_chunk_twice(
    ctx: Context, export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save = backfill.Checkpoint.save

    def dies_after_the_first_chunk(self: backfill.Checkpoint, fields: dict[str, object]) -> None:
        if fields.get("done") == 2:
            raise KeyboardInterrupt  # killed between the outbox write and the checkpoint
        save(self, fields)

    monkeypatch.setattr(backfill.Checkpoint, "save", dies_after_the_first_chunk)
    with pytest.raises(KeyboardInterrupt):
        run_backfill(ctx, Job(export, SHOP, chunk=2))
    monkeypatch.setattr(backfill.Checkpoint, "save", save)

    resumed = run_backfill(ctx, Job(export, SHOP, chunk=2))

    assert (resumed.done, resumed.queued, resumed.already_done) == (5, 3, 2)
    assert len(queued_external_ids(ctx)) == 5


def test_a_run_resumes_after_its_last_checkpoint(
    ctx: Context, export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt_after_two_chunks(progress: Progress) -> None:
        if progress.done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_backfill(ctx, Job(export, SHOP, chunk=2), interrupt_after_two_chunks)

    resumed = run_backfill(ctx, Job(export, SHOP, chunk=2))

    assert (resumed.done, resumed.queued, resumed.already_done) == (5, 1, 4)
    assert len(queued_external_ids(ctx)) == 5


def test_mapping_errors_name_their_rows_and_the_rest_is_queued(
    ctx: Context, tmp_path: Path
) -> None:
    path = tmp_path / "orders_export.csv"
    write_export(path, 3)
    text = path.read_text().replace(",5900000001002,", ",,")
    path.write_text(text)

    progress = run_backfill(ctx, Job(path, SHOP))

    assert progress.errors == [(3, "Shopify order has no id")]
    assert progress.queued == 2


def test_another_shop_is_another_backfill(ctx: Context, export: Path) -> None:
    run_backfill(ctx, Job(export, SHOP))

    other = run_backfill(ctx, Job(export, "other-shop.myshopify.com"))

    assert (other.finished_before, other.queued) == (False, 5)


def test_a_full_outbox_holds_the_backfill_back(ctx: Context, export: Path) -> None:
    run_backfill(ctx, Job(export, "first-shop.myshopify.com"))
    seen: list[str] = []

    def worker_drains_when_asked(progress: Progress) -> None:
        if progress.waiting:
            seen.append(progress.waiting)
            for key in ctx.redis.scan_iter("outbox:*"):
                ctx.redis.delete(key)

    run_backfill(ctx, Job(export, SHOP, max_backlog=3), worker_drains_when_asked)

    # each order queues its deal and the completion of its contact
    assert seen == ["outbox holds 10 entries; no worker is running (start `adapter worker`)"]
