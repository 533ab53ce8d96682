from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapter.crm.client import CrmClient
from adapter.crm.commands import AnyCommand
from adapter.mapping import MappingError
from adapter.settings import Settings
from adapter.webhook import WebhookDelivery
from tests.workers.commands import SHOP, upsert_deal
from tests.workers.fakecrm import FakeCrm
from workers import intake, redrive
from workers.context import Context, Options, set_context
from workers.jobs import process_delivery
from workers.outbox import Kind


@pytest.fixture
def ctx(redis_url: str) -> Iterator[Context]:
    settings = Settings(redis_url=redis_url, crm_api_key="k", crm_base_url="http://crm.test")
    client = CrmClient(settings.crm_base_url, "k", transport=FakeCrm().transport())
    context = Context(settings, Options(linger=0.0), client)
    set_context(context)
    yield context
    set_context(None)
    context.close()


def delivery(delivery_id: str = "wh-1", **payload: Any) -> dict[str, Any]:
    return WebhookDelivery(
        source="shopify",
        topic="orders/create",
        delivery_id=delivery_id,
        received_at=datetime(2026, 11, 28, tzinfo=UTC),
        shop_domain=SHOP,
        payload={"id": 1, "email": "buyer@example.com", **payload},
    ).model_dump(mode="json")


def mapper(*commands: AnyCommand) -> Any:
    return lambda *_args: list(commands)


def failing_mapper(error: Exception) -> Any:
    def map_delivery(*_args: Any) -> list[AnyCommand]:
        raise error

    return map_delivery


def test_a_delivery_becomes_commands_in_the_outbox(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", mapper(upsert_deal(1), upsert_deal(2)))
    result = process_delivery(delivery())
    assert result == {"commands": 2, "queued": 2, "duplicate": False, "dead_letter": None}
    assert ctx.outbox.backlog(Kind.DEALS).total == 2


def test_the_same_delivery_twice_is_queued_once(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", mapper(upsert_deal(1)))
    process_delivery(delivery())
    assert process_delivery(delivery())["duplicate"] is True
    assert ctx.outbox.size() == 1


def test_an_unmappable_delivery_is_kept_raw_and_replays_after_a_fix(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", failing_mapper(MappingError("order has no id")))
    result = process_delivery(delivery())
    letter = ctx.deadletters.get(result["dead_letter"])
    assert letter is not None
    assert (letter.kind, letter.error) == ("delivery", "order has no id")
    assert letter.delivery == delivery()

    monkeypatch.setattr(intake, "map_delivery", mapper(upsert_deal(1)))
    replayed = redrive.replay(ctx, letter.id)
    assert replayed.ok
    assert ctx.deadletters.count() == 0
    assert ctx.outbox.backlog(Kind.DEALS).total == 1


def test_a_delivery_that_still_fails_stays_dead_lettered(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", failing_mapper(MappingError("no id")))
    letter_id = process_delivery(delivery())["dead_letter"]
    monkeypatch.setattr(intake, "map_delivery", failing_mapper(MappingError("still no id")))
    assert not redrive.replay(ctx, letter_id).ok
    letter = ctx.deadletters.get(letter_id)
    assert letter is not None
    assert letter.error == "still no id"


def test_a_mapper_crash_is_dead_lettered_not_raised(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", failing_mapper(KeyError("total_price")))
    letter_id = process_delivery(delivery())["dead_letter"]
    letter = ctx.deadletters.get(letter_id)
    assert letter is not None
    assert letter.error.startswith("KeyError")


def test_a_malformed_delivery_is_dead_lettered_without_quoting_it(ctx: Context) -> None:
    raw = {**delivery(), "received_at": "buyer@example.com"}
    letter_id = process_delivery(raw)["dead_letter"]
    letter = ctx.deadletters.get(letter_id)
    assert letter is not None
    assert "received_at" in letter.error
    assert "buyer@example.com" not in letter.error


def test_dead_letters_are_listed_without_payloads(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", failing_mapper(MappingError("no id")))
    process_delivery(delivery("a"))
    process_delivery(delivery("b"))
    summaries = [letter.summary() for letter in ctx.deadletters.listing()]
    assert [s["id"] for s in summaries] == ["dlv-a", "dlv-b"]
    assert "buyer@example.com" not in str(summaries)
    assert ctx.deadletters.drop("dlv-a")
    assert ctx.deadletters.ids() == ["dlv-b"]
