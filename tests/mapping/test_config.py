from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from adapter.mapping.config import SHOPIFY_TOPICS, STRIPE_EVENTS, MappingConfig
from adapter.mapping.shopify import _HANDLERS as SHOPIFY_HANDLERS
from adapter.mapping.stripe import _HANDLERS as STRIPE_HANDLERS
from adapter.settings import Settings


def test_defaults_handle_every_topic_the_mappers_know() -> None:
    config = MappingConfig()
    assert set(config.shopify_topics) == set(SHOPIFY_TOPICS) == set(SHOPIFY_HANDLERS)
    assert set(config.stripe_events) == set(STRIPE_EVENTS) == set(STRIPE_HANDLERS)
    assert config.stages == ["new", "qualified", "proposal", "won", "lost"]
    assert config.default_phone_region == "EG"


def test_every_default_stage_is_a_pipeline_stage() -> None:
    config = MappingConfig()
    assert set(config.used_stages()) <= set(config.stages)


def test_stages_are_lowercased() -> None:
    config = MappingConfig.model_validate(
        {"stages": ["New", "WON", "lost", "qualified"], "shopify": {"cancelled_stage": "LOST"}}
    )
    assert config.stages == ["new", "won", "lost", "qualified"]
    assert config.shopify.cancelled_stage == "lost"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stages": ["new", "won"]}, "not among the pipeline stages"),
        ({"shopify": {"financial_status_stages": {"paid": "closed"}}}, "closed"),
        ({"stages": ["New Stage"]}, "not a pipeline stage id"),
        ({"shopify_topics": ["products/create"]}, "no mapping for"),
        ({"stripe_events": ["charge.succeeded"]}, "no mapping for"),
        ({"default_phone_region": "XX"}, "not a phone region"),
        ({"shopify": {"order_title": "Order"}}, "must contain one of"),
        ({"shopify": {"order_title": "Order {nam}"}}, "unknown placeholder"),
        ({"stripe": {"invoice_title": "Invoice {number.__class__}"}}, "plain {name}"),
        ({"stripe": {"payment_title": "Payment {id!r}"}}, "plain {name}"),
        ({"forms": {"currency": "riyal"}}, "currency"),
        ({"stripe": {"event_stages": {"invoice.finalized": "won"}}}, "no stage is set by"),
        ({"unknown_setting": 1}, "Extra inputs"),
    ],
)
def test_invalid_settings_are_refused_with_a_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MappingConfig.model_validate(data)


def test_stage_maps_are_merged_over_the_defaults() -> None:
    config = MappingConfig.model_validate(
        {"shopify": {"financial_status_stages": {"PAID": "proposal"}}}
    )
    stages = config.shopify.financial_status_stages
    assert stages["paid"] == "proposal"
    assert stages["refunded"] == "lost"


def test_topics_can_be_narrowed() -> None:
    config = MappingConfig(shopify_topics=["orders/create"], stripe_events=[])
    assert config.shopify_topics == ["orders/create"]


def test_mapping_is_the_mapping_table_of_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "adapter.toml"
    path.write_text(
        """
[mapping]
default_phone_region = "sa"
shopify_topics = ["orders/create", "orders/paid"]

[mapping.shopify]
order_title = "Shopify {name}"
financial_status_stages = { paid = "won", pending = "qualified" }

[mapping.stripe]
ignore_test_mode = true

[mapping.forms]
currency = "SAR"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("ADAPTER_CONFIG", str(path))
    mapping = Settings().mapping
    assert mapping.default_phone_region == "SA"
    assert mapping.shopify_topics == ["orders/create", "orders/paid"]
    assert mapping.shopify.order_title == "Shopify {name}"
    assert mapping.shopify.financial_status_stages["pending"] == "qualified"
    assert mapping.shopify.financial_status_stages["voided"] == "lost"
    assert mapping.stripe.ignore_test_mode is True
    assert mapping.forms.currency == "SAR"
