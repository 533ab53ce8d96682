"""Typed settings: secrets and URLs from the environment, the rest also from a TOML file.

The config file is named by `ADAPTER_CONFIG` (or `--config`). Environment variables
win over the file. Comma-separated variables (`SHOPIFY_WEBHOOK_SECRETS`, ...) hold
several values at once, which is how secret rotation works.

An empty value (`CRM_BASE_URL=`, as `.env` files and compose's `${X:-}` produce) means
unset, from every source: the setting keeps its default and does not count as configured.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from adapter.mapping.config import MappingConfig
from adapter.store_settings import (
    PaymobIntegration,
    SallaMerchant,
    WooCommerceStore,
    check_store_keys,
    comma_list,
)
from adapter.tenants import TenantConfig, check_tenants

CONFIG_ENV = "ADAPTER_CONFIG"

SecretList = Annotated[list[SecretStr], NoDecode]
CommaList = Annotated[list[str], NoDecode]

# what redis-py's from_url accepts, with room for `+` variants (e.g. Sentinel)
# the forms of REDIS_URL the adapter connects to (see adapter.redis_connection)
REDIS_URL_FORMS = (
    "redis://host:6379/0, rediss://host:6380/0 (TLS), unix:///path/redis.sock "
    "or redis+sentinel://host:26379[,host2:26379]/service[/db]"
)
_REDIS_SCHEME = re.compile(r"(rediss?|unix)(\+[a-z]+)?", re.IGNORECASE)


class FormAuth(BaseModel):
    """How a form proves a delivery is genuine.

    - `standard_webhooks`: webhook-id / webhook-timestamp / webhook-signature, `whsec_` secrets.
    - `hmac`: `X-Signature: sha256=<hex>` over the raw body (header name configurable).
    - `token`: a shared token in a header, for no-code tools that cannot sign.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["standard_webhooks", "hmac", "token"]
    secrets: list[SecretStr] = Field(min_length=1)
    header: str | None = None

    @field_validator("secrets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return comma_list(value)


class FormConfig(BaseModel):
    """One lead form: `POST /webhooks/forms/{id}`."""

    model_config = ConfigDict(extra="forbid")

    name: str = "Web form"
    auth: FormAuth
    honeypot_field: str | None = None
    # form field name -> target: "first_name", "email", "deal.value", "custom.<key>", ...
    fields: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    source: str = "form"
    stage: str = "new"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", env_prefix="", case_sensitive=False)

    redis_url: str = "redis://127.0.0.1:6379/0"
    # TLS for a rediss:// REDIS_URL: the CA that signed the server's certificate (else the
    # system's), and a client certificate and key where the server asks for one
    redis_tls_ca_file: str | None = None
    redis_tls_cert_file: str | None = None
    redis_tls_key_file: str | None = None
    redis_tls_verify: bool = True
    # accept a Redis without an append-only file (a restart loses recent deliveries)
    redis_allow_no_aof: bool = False

    # ingestion
    shopify_webhook_secrets: SecretList = Field(default_factory=list)
    # shop domain -> secrets valid only for that shop (in addition to the global ones)
    shopify_shop_secrets: dict[str, list[SecretStr]] = Field(default_factory=dict)
    stripe_webhook_secrets: SecretList = Field(default_factory=list)
    stripe_tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    dedupe_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    forms: dict[str, FormConfig] = Field(default_factory=dict)
    # WooCommerce, Salla and Paymob (see adapter.store_settings for the per-store tables)
    woocommerce_webhook_secrets: SecretList = Field(default_factory=list)
    woocommerce_stores: dict[str, WooCommerceStore] = Field(default_factory=dict)
    salla_webhook_secrets: SecretList = Field(default_factory=list)
    salla_webhook_tokens: SecretList = Field(default_factory=list)
    salla_merchants: dict[str, SallaMerchant] = Field(default_factory=dict)
    paymob_hmac_secrets: SecretList = Field(default_factory=list)
    paymob_integrations: dict[str, PaymobIntegration] = Field(default_factory=dict)
    # the delivery ledger: settled deliveries are kept this long for trace and replay,
    # within this many MB (the oldest settled ones go first; unsettled ones never)
    delivery_retention_hours: float = Field(default=72.0, ge=0)
    delivery_retention_mb: float = Field(default=256.0, ge=0)
    # a worker holds a delivery this long without renewing; a dead worker's deliveries
    # are taken again once it expires
    delivery_lease_seconds: float = Field(default=10.0, gt=0, le=25)

    # delivery
    crm_base_url: str = "http://127.0.0.1:8100/functions/v1"
    crm_api_key: SecretStr = SecretStr("")
    crm_rate_limit_per_minute: int = Field(default=120, ge=1)
    crm_max_in_flight: int = Field(default=5, ge=1)
    crm_timeout_seconds: float = Field(default=10.0, gt=0)
    # how long a partly full batch may wait for company before it is sent
    batch_linger_seconds: float = Field(default=0.5, ge=0, le=2)

    # other CRM organisations and the stores that feed them (adapter.tenants); the
    # CRM settings above are the default tenant's, fed by every store none claims
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)

    # operations
    admin_token: SecretStr | None = None
    # Bearer token /metrics then requires (unset: /metrics is open, as Prometheus expects)
    metrics_token: SecretStr | None = None
    # addresses of reverse proxies whose X-Forwarded-For/-Proto are believed ("*": any)
    trusted_proxies: CommaList = Field(default_factory=list)
    # request line + headers; a longer head is refused with 431 before it is buffered
    max_header_bytes: int = Field(default=64 * 1024, ge=4096, le=1024 * 1024)
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # where `adapter dev` says where it runs (default: $XDG_STATE_HOME/crm-adapter/dev.json)
    dev_state_file: Path | None = None

    mapping: MappingConfig = Field(default_factory=MappingConfig)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, values: Any) -> Any:
        if isinstance(values, dict):
            return {
                key: value
                for key, value in values.items()
                if not (isinstance(value, str) and not value.strip())
            }
        return values

    @field_validator(
        "shopify_webhook_secrets",
        "stripe_webhook_secrets",
        "woocommerce_webhook_secrets",
        "salla_webhook_secrets",
        "salla_webhook_tokens",
        "paymob_hmac_secrets",
        "trusted_proxies",
        mode="before",
    )
    @classmethod
    def _split(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("woocommerce_stores", "paymob_integrations")
    @classmethod
    def _store_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_store_keys(value, "store")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep:
            # the value is not echoed: it may hold a password
            raise ValueError(f"has no scheme: write it as {REDIS_URL_FORMS}")
        if not _REDIS_SCHEME.fullmatch(scheme) or not rest:
            raise ValueError(f"must look like {REDIS_URL_FORMS}")
        return value

    @field_validator("crm_base_url")
    @classmethod
    def _crm_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http(s) URL, e.g. https://<project>.supabase.co/functions/v1"
            )
        return value.rstrip("/")

    @field_validator("tenants")
    @classmethod
    def _tenants(cls, value: dict[str, TenantConfig]) -> dict[str, TenantConfig]:
        check_tenants(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_path = os.environ.get(CONFIG_ENV)
        if config_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_path)))
        return tuple(sources)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment and the optional TOML file; overrides win."""
    if config_file is not None:
        os.environ[CONFIG_ENV] = str(config_file)
    return Settings(**overrides)
