"""Building deliveries for mapper tests, and checking what mappers emit."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapter.crm.commands import AnyCommand, CompleteContact, command_from_json
from adapter.mapping import MappingConfig, map_delivery
from adapter.settings import FormConfig
from adapter.webhook import WebhookDelivery
from tests.support.shared import FIXTURES, shared_path

SHOP = "demo.myshopify.com"
RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of one of the repository's payloads (`shopify/orders_create.json`)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def published(name: str) -> dict[str, Any]:
    """A provider's published payload from the shared set; skips the test when it is absent."""
    data: dict[str, Any] = json.loads(shared_path(f"fixtures/{name}").read_text(encoding="utf-8"))
    return data


def shopify(topic: str, payload: dict[str, Any], shop: str | None = SHOP) -> WebhookDelivery:
    return WebhookDelivery(
        source="shopify",
        topic=topic,
        delivery_id="b5a5c3f2-0000-4000-8000-000000000001",
        received_at=RECEIVED,
        shop_domain=shop,
        payload=payload,
    )


def stripe(payload: dict[str, Any], topic: str | None = None) -> WebhookDelivery:
    return WebhookDelivery(
        source="stripe",
        topic=topic or str(payload.get("type")),
        delivery_id=str(payload.get("id", "evt_test")),
        received_at=RECEIVED,
        payload=payload,
    )


def stripe_event(event_type: str, obj: dict[str, Any], **event: Any) -> dict[str, Any]:
    """A minimal Stripe Event around `obj`."""
    return {
        "id": "evt_1",
        "object": "event",
        "type": event_type,
        "created": 1764331200,
        "livemode": True,
        "data": {"object": obj},
        **event,
    }


def form(
    payload: dict[str, Any], form_id: str = "contact", delivery_id: str = "msg_2c3d"
) -> WebhookDelivery:
    return WebhookDelivery(
        source="form",
        topic=form_id,
        delivery_id=delivery_id,
        received_at=RECEIVED,
        form_id=form_id,
        payload=payload,
    )


def form_config(**fields: Any) -> FormConfig:
    return FormConfig.model_validate({"auth": {"kind": "token", "secrets": ["s3cret"]}, **fields})


def mapped(
    delivery: WebhookDelivery,
    config: MappingConfig | None = None,
    forms: Mapping[str, FormConfig] | None = None,
) -> list[AnyCommand]:
    """map_delivery, with every command checked against the contract on the way out."""
    commands = map_delivery(delivery, config or MappingConfig(), forms)
    for command in commands:
        assert_contract_valid(command)
    return commands


def primary(commands: list[AnyCommand]) -> list[AnyCommand]:
    """The commands without the contact completions that follow deals with a person."""
    return [c for c in commands if not isinstance(c, CompleteContact)]


def assert_contract_valid(command: AnyCommand) -> None:
    """The command survives the JSON trip through Redis and the contract's validation."""
    again = command_from_json(command.model_dump(mode="json"))
    assert type(again) is type(command)
    assert again.external_id == command.external_id
    assert again.model_dump(mode="json") == command.model_dump(mode="json")
