"""Commands for tests: what a mapper would emit for orders, leads and contacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapter.crm.commands import CreateLead, UpdateDeal, UpsertContact, UpsertDeal
from adapter.crm.models import BulkDeal, Contact, DealUpdate, Lead, LeadDeal

SHOP = "test-shop.myshopify.com"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def order_id(n: int) -> str:
    return f"shopify:{SHOP}:order:{n}"


def upsert_deal(
    n: int,
    *,
    stage: str = "new",
    value: str = "100.50",
    version: int = 0,
    email: str | None = None,
    fields: dict[str, object] | None = None,
) -> UpsertDeal:
    return UpsertDeal(
        external_id=order_id(n),
        source_updated_at=T0 + timedelta(minutes=version),
        deal=BulkDeal(
            title=f"Shopify order #{n}",
            value=Decimal(value),
            currency="SAR",
            stage=stage,
            contact_email=email or f"buyer{n}@example.com",
            contact_first_name="Buyer",
            create_contact_if_missing=True,
            custom_fields={"external_id": order_id(n), "order_number": n, **(fields or {})},
        ),
    )


def update_deal(n: int, *, version: int, fields: dict[str, object]) -> UpdateDeal:
    return UpdateDeal(
        external_id=order_id(n),
        source_updated_at=T0 + timedelta(minutes=version),
        changes=DealUpdate(custom_fields=fields),
    )


def create_lead(n: int) -> CreateLead:
    external_id = f"form:contact:{n}"
    return CreateLead(
        external_id=external_id,
        source_updated_at=T0,
        lead=Lead(
            contact=Contact(first_name="Lead", emails=[f"lead{n}@example.com"]),
            deal=LeadDeal(title=f"Form lead {n}", stage="new"),
        ),
    )


def upsert_contact(n: int, *, version: int = 0, city: str = "Riyadh") -> UpsertContact:
    return UpsertContact(
        external_id=f"shopify:{SHOP}:customer:{n}",
        source_updated_at=T0 + timedelta(minutes=version),
        contact=Contact(
            first_name="Customer",
            emails=[f"customer{n}@example.com"],
            custom_fields={"city": city},
        ),
    )
