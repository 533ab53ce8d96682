"""Per-store settings of the WooCommerce, Salla and Paymob sources, as the config file holds them.

    [woocommerce_stores.riyadh-oud]        # the {store} of /webhooks/woocommerce/{store}
    secrets = ["wc-secret-new", "wc-secret-old"]

    [salla_merchants."1305146709"]         # the `merchant` of Salla's envelope
    secrets = ["..."]                      # Signature strategy
    tokens = ["..."]                       # Token strategy

    [paymob_integrations."4097558"]        # the {integration} of /webhooks/paymob/{integration}
    secrets = ["..."]

A store's secrets are tried together with the global ones (`WOOCOMMERCE_WEBHOOK_SECRETS`,
`SALLA_WEBHOOK_SECRETS`, `SALLA_WEBHOOK_TOKENS`, `PAYMOB_HMAC_SECRETS`). A WooCommerce
store's country, the hint for local phone numbers, is a mapping setting:
`[mapping.woocommerce] store_countries`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

# what a {store} or {integration} path segment may be: it also scopes dedupe keys
STORE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def comma_list(value: Any) -> Any:
    """`"a, b"` → `["a", "b"]`: comma-separated values, blanks dropped (every list setting
    given as text: secrets, tokens, proxies, a tenant's stores)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Secrets = Annotated[list[SecretStr], BeforeValidator(comma_list)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WooCommerceStore(_Table):
    secrets: Secrets = Field(default_factory=list)


class SallaMerchant(_Table):
    secrets: Secrets = Field(default_factory=list)
    tokens: Secrets = Field(default_factory=list)


class PaymobIntegration(_Table):
    secrets: Secrets = Field(default_factory=list)


def check_store_keys(stores: dict[str, Any], what: str) -> None:
    for key in stores:
        if not STORE_KEY.fullmatch(key):
            raise ValueError(f"{what} {key!r}: use letters, digits, '.', '_' and '-' (≤ 100)")
