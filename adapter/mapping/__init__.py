"""Mapping: a verified delivery in, CRM commands out. Pure functions, no network.

Interface used by ingestion (`ignore_reason`, before queueing: topic-level
decisions only) and by workers (`map_delivery`). A delivery whose payload has
nothing worth recording (a customer with no email or phone, a completed checkout)
maps to `[]`, which the worker counts as skipped; one that should make a record but
cannot raises MappingError and is kept for replay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from pydantic import ValidationError

from adapter.crm.commands import AnyCommand
from adapter.mapping import forms as form_mapper
from adapter.mapping import paymob, salla, shopify, stripe, woocommerce
from adapter.mapping.config import MappingConfig
from adapter.mapping.errors import MappingError
from adapter.mapping.store_config import PAYMOB_TYPES
from adapter.webhook import WebhookDelivery

if TYPE_CHECKING:
    from adapter.settings import FormConfig

__all__ = ["INVALID_RECORD", "MappingConfig", "MappingError", "ignore_reason", "map_delivery"]

_STORE_MAPPERS: dict[str, Callable[[WebhookDelivery, MappingConfig], list[AnyCommand]]] = {
    "woocommerce": woocommerce.map_delivery,
    "salla": salla.map_delivery,
    "paymob": paymob.map_delivery,
}

# Prefix of the reason when a mapper built a record the CRM contract refuses:
# a bug of ours, caught so that the delivery is kept for replay after the fix.
INVALID_RECORD = "mapped record refused by the CRM contract"


def ignore_reason(delivery: WebhookDelivery, config: MappingConfig) -> str | None:
    """Why this verified delivery is not handled (unknown topic, test mode), or None."""
    if delivery.source == "shopify":
        if delivery.topic not in config.shopify_topics:
            return f"Shopify topic {delivery.topic!r} is not handled (mapping.shopify_topics)"
    elif delivery.source == "stripe":
        if delivery.topic not in config.stripe_events:
            return f"Stripe event {delivery.topic!r} is not handled (mapping.stripe_events)"
        if config.stripe.ignore_test_mode and delivery.payload.get("livemode") is False:
            return "Stripe test-mode event (mapping.stripe.ignore_test_mode)"
    elif delivery.source in _STORE_MAPPERS:
        return _store_ignore_reason(delivery, config)
    return None


def _store_ignore_reason(delivery: WebhookDelivery, config: MappingConfig) -> str | None:
    topic = delivery.topic
    if delivery.source == "woocommerce" and topic not in config.woocommerce_topics:
        return f"WooCommerce topic {topic!r} is not handled (mapping.woocommerce_topics)"
    if delivery.source == "salla" and topic not in config.salla_events:
        return f"Salla event {topic!r} is not handled (mapping.salla_events)"
    if delivery.source == "paymob" and topic not in PAYMOB_TYPES:
        return f"Paymob {topic!r} callback has nothing for the CRM"
    return None


def map_delivery(
    delivery: WebhookDelivery,
    config: MappingConfig,
    forms: Mapping[str, FormConfig] | None = None,
) -> list[AnyCommand]:
    """The CRM commands for one delivery; raises MappingError when none can be made.

    `forms` is `Settings.forms`: a form delivery's field table, tags, source
    and stage. A form without an entry is mapped by common field names.
    Ignored deliveries (see `ignore_reason`) map to no commands.
    """
    if ignore_reason(delivery, config) is not None:
        return []
    try:
        if delivery.source == "shopify":
            return shopify.map_delivery(delivery, config)
        if delivery.source == "stripe":
            return stripe.map_delivery(delivery, config)
        if delivery.source in _STORE_MAPPERS:
            return _STORE_MAPPERS[delivery.source](delivery, config)
        form = (forms or {}).get(delivery.form_id or delivery.topic)
        return form_mapper.map_delivery(delivery, config, form)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MappingError(f"{INVALID_RECORD}: {where}: {first['msg']}") from exc
