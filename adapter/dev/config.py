"""The dev mode's settings: fixed dev-only secrets, one sample form, local Redis and CRM.

The secrets are printed on start and are the same on every machine: they protect
nothing, which is the point of them. Never configure them anywhere real.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from adapter.settings import FormAuth, FormConfig, Settings

SHOPIFY_SECRET = "dev-only-shopify-secret"  # noqa: S105 - printed on purpose
STRIPE_SECRET = "whsec_dev_only_stripe_secret"  # noqa: S105 - printed on purpose
FORM_SECRET = "dev-only-form-secret"  # noqa: S105 - printed on purpose
FORM_ID = "contact"
FORM_HONEYPOT = "website"


def dev_form() -> FormConfig:
    return FormConfig(
        name="Contact form",
        auth=FormAuth(kind="hmac", secrets=[SecretStr(FORM_SECRET)]),
        honeypot_field=FORM_HONEYPOT,
        tags=["dev"],
    )


def configured(settings: Settings, field: str) -> bool:
    """Whether the environment or the config file set `field` (else it is a default)."""
    return field in settings.model_fields_set


def dev_settings(
    base: Settings, redis_url: str, crm_base_url: str | None, crm_api_key: str | None
) -> Settings:
    """`base` with the dev secrets and form, this Redis, and (unless None) this CRM."""
    update: dict[str, Any] = {
        "redis_url": redis_url,
        "shopify_webhook_secrets": [SecretStr(SHOPIFY_SECRET)],
        "stripe_webhook_secrets": [SecretStr(STRIPE_SECRET)],
        "forms": {**base.forms, FORM_ID: dev_form()},
    }
    if crm_base_url is not None:
        update["crm_base_url"] = crm_base_url
    if crm_api_key is not None:
        update["crm_api_key"] = SecretStr(crm_api_key)
    return base.model_copy(update=update)
