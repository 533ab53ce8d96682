"""The benchmark's orders: UpsertDeal commands as the Shopify mapper emits them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from adapter.crm.commands import UpsertDeal
from adapter.crm.models import BulkDeal, Contact, Lead, LeadDeal

SHOP = "bench.myshopify.com"
UPDATED_AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def order(n: int) -> UpsertDeal:
    external_id = f"shopify:{SHOP}:order:{n}"
    return UpsertDeal(
        external_id=external_id,
        source_updated_at=UPDATED_AT,
        deal=BulkDeal(
            title=f"Shopify order #{1000 + n}",
            value=Decimal(f"{100 + n % 900}.{n % 100:02d}"),
            currency="SAR",
            stage="new",
            source="shopify",
            contact_email=f"customer{n}@example.com",
            contact_first_name="Customer",
            create_contact_if_missing=True,
            custom_fields={"external_id": external_id, "order_number": 1000 + n},
        ),
    )


def lead(n: int) -> Lead:
    """The same order as one /create-lead: the one-request-per-event baseline."""
    deal = order(n).deal
    return Lead(
        contact=Contact(first_name="Customer", emails=[f"customer{n}@example.com"]),
        deal=LeadDeal(
            title=deal.title,
            value=deal.value,
            currency=deal.currency,
            stage=deal.stage,
            custom_fields=deal.custom_fields,
        ),
    )
