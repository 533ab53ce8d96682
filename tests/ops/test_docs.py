"""The operator docs follow the code: every setting, topic and event is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from adapter.cli.config import load_settings_checked
from adapter.mapping.config import (
    SHOPIFY_TOPICS,
    STRIPE_EVENTS,
    FormsMapping,
    MappingConfig,
    ShopifyMapping,
    StripeMapping,
)
from adapter.mapping.store_config import (
    SALLA_EVENTS,
    WOOCOMMERCE_TOPICS,
    PaymobMapping,
    SallaMapping,
    WooCommerceMapping,
)
from adapter.settings import FormAuth, FormConfig, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_documented_with_its_variable() -> None:
    text = (DOCS / "configuration.md").read_text()
    for field in Settings.model_fields:
        assert f"`{field}`" in text, field
        assert f"`{field.upper()}" in text, field.upper()


TABLES = [
    FormConfig,
    FormAuth,
    MappingConfig,
    ShopifyMapping,
    StripeMapping,
    FormsMapping,
    WooCommerceMapping,
    SallaMapping,
    PaymobMapping,
]


@pytest.mark.parametrize("model", TABLES, ids=lambda m: m.__name__)
def test_every_table_key_is_documented(model: type[BaseModel]) -> None:
    text = (DOCS / "configuration.md").read_text()
    for field in model.model_fields:
        assert f"`{field}`" in text or f"`[mapping.{field}]`" in text, field


def test_configuration_example_is_a_valid_config(tmp_path: Path) -> None:
    text = (DOCS / "configuration.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    assert blocks
    path = tmp_path / "example.toml"
    path.write_text(blocks[-1])
    settings = load_settings_checked(path)
    assert set(settings.forms) == {"contact", "typeform"}


def test_every_handled_topic_and_event_is_listed_for_providers() -> None:
    text = (DOCS / "providers.md").read_text()
    for name in (*SHOPIFY_TOPICS, *STRIPE_EVENTS, *WOOCOMMERCE_TOPICS, *SALLA_EVENTS):
        assert f"`{name}`" in text, name
