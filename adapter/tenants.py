"""Tenants: which CRM organisation each store feeds, with its own API key and URL.

An agency runs many stores for many clients, each client with its own CRM
organisation. The config file names them:

    [tenants.acme]
    crm_base_url = "https://acme.supabase.co/functions/v1"
    crm_api_key = "..."                    # or TENANTS='{"acme": {...}}' (JSON)
    crm_rate_limit_per_minute = 120        # optional: the top-level value otherwise
    crm_max_in_flight = 5                  # optional: likewise
    shopify_shops = ["acme.myshopify.com"]
    woocommerce_stores = ["acme-wc"]       # the {store} of /webhooks/woocommerce/{store}
    salla_merchants = ["1305146709"]
    stripe_accounts = ["acct_1Nv0FGQ9RKHgCVdK"]   # Connect's `account` of an event
    paymob_integrations = ["4097558"]
    forms = ["contact"]

A store no tenant claims feeds the *default* tenant: the top-level `CRM_BASE_URL`,
`CRM_API_KEY`, ... So a configuration without tenants behaves as it always did.
A store claimed by two tenants, or a tenant without a key or a URL, is a
configuration error naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from adapter.store_settings import comma_list

DEFAULT_TENANT = "default"
# a tenant's name is part of Redis keys and metric labels
TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")

# the setting that lists a source's stores, per source
STORE_LISTS: dict[str, str] = {
    "shopify": "shopify_shops",
    "woocommerce": "woocommerce_stores",
    "salla": "salla_merchants",
    "stripe": "stripe_accounts",
    "paymob": "paymob_integrations",
    "form": "forms",
}


def tenant_namespace(tenant: str) -> str:
    """The prefix of a tenant's Redis keys; the default tenant keeps the plain names."""
    return "" if tenant == DEFAULT_TENANT else f"tenant:{tenant}:"


class TenantConfig(BaseModel):
    """One CRM organisation and the stores that feed it."""

    model_config = ConfigDict(extra="forbid")

    crm_base_url: str
    crm_api_key: SecretStr
    crm_rate_limit_per_minute: int | None = Field(default=None, ge=1)
    crm_max_in_flight: int | None = Field(default=None, ge=1)
    shopify_shops: list[str] = Field(default_factory=list)
    woocommerce_stores: list[str] = Field(default_factory=list)
    salla_merchants: list[str] = Field(default_factory=list)
    stripe_accounts: list[str] = Field(default_factory=list)
    paymob_integrations: list[str] = Field(default_factory=list)
    forms: list[str] = Field(default_factory=list)

    @field_validator(*STORE_LISTS.values(), mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("crm_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.strip().rstrip("/")

    @field_validator("crm_api_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty")
        return value

    def stores(self, source: str) -> list[str]:
        found: list[str] = getattr(self, STORE_LISTS[source])
        return found


def store_key(source: str, store: str) -> str:
    """A store as the router compares it: Shopify shop domains without case."""
    return store.strip().lower() if source == "shopify" else store.strip()


def check_tenants(tenants: Mapping[str, TenantConfig]) -> None:
    """ValueError naming the first tenant or store that cannot work."""
    owner: dict[tuple[str, str], str] = {}
    for name, tenant in tenants.items():
        if name == DEFAULT_TENANT:
            raise ValueError(f"{name!r} is the top-level CRM settings: choose another name")
        if not TENANT_NAME.fullmatch(name):
            raise ValueError(f"{name!r}: use lowercase letters, digits, '_' and '-' (≤ 40)")
        for source, setting in STORE_LISTS.items():
            for store in tenant.stores(source):
                key = (source, store_key(source, store))
                if key in owner and owner[key] != name:
                    raise ValueError(
                        f"{setting} {store!r} is claimed by tenants {owner[key]!r} and {name!r}"
                    )
                owner[key] = name


class Router:
    """Which tenant a delivery's store belongs to."""

    def __init__(self, tenants: Mapping[str, TenantConfig]) -> None:
        self.names = [DEFAULT_TENANT, *tenants]
        self._owner: dict[tuple[str, str], str] = {}
        for name, tenant in tenants.items():
            for source in STORE_LISTS:
                for store in tenant.stores(source):
                    self._owner[(source, store_key(source, store))] = name

    def tenant_of(self, source: str, store: str | None) -> str:
        """The tenant of (source, store); the default tenant for a store nobody claims."""
        if not store:
            return DEFAULT_TENANT
        return self._owner.get((source, store_key(source, store)), DEFAULT_TENANT)


def store_of(
    source: str, shop_domain: str | None, form_id: str | None, payload: Mapping[str, Any]
) -> str | None:
    """The store a delivery comes from, as tenants name it: the shop, store, merchant or
    integration ingestion recorded, a form's id, or a Stripe Connect event's `account`."""
    if source == "form":
        return form_id
    if source == "stripe":
        account = payload.get("account")
        return account if isinstance(account, str) else None
    return shop_domain
