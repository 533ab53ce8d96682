"""Sales whose payload names no person: the deal goes to the customer's contact, found by
the worker (see `CustomerRef`), or to one guest contact per shop or Stripe account.

Also the completion that follows a deal whose payload does name a person: the CRM links
such a deal to a contact it matches by email, then phone, and leaves that contact as it
is, so whatever else the payload knows (other emails and phones, a name) is sent after it.
"""

from __future__ import annotations

from datetime import datetime

from adapter.crm.commands import CompleteContact, CustomerRef, UpsertCustomerDeal
from adapter.crm.models import LeadDeal
from adapter.crm.normalize import normalize_source, normalize_tags
from adapter.mapping._person import Person
from adapter.mapping.config import MappingConfig
from adapter.mapping.errors import MappingError


def customer_ref(
    config: MappingConfig,
    what: str,
    *,
    guest_external_id: str,
    guest_source: str,
    contact_external_id: str | None = None,
    search_field: str | None = None,
    search_value: str | None = None,
    wait: bool | None = None,
) -> CustomerRef:
    """Where the worker looks for the sale's contact; MappingError when nowhere.

    A known customer id waits for the customer's event (`customer_wait_seconds`); a sale
    without one goes to the guest contact at once (unless `wait`: another event of the
    same sale may still bring its person), or is refused when guest sales are off.
    """
    settings = config.customers
    known = contact_external_id is not None
    wait = known if wait is None else wait
    if not known and not settings.guest_sales:
        raise MappingError(
            f"{what} has no valid email or phone for its contact "
            "(and mapping.customers.guest_sales is off)"
        )
    return CustomerRef(
        contact_external_id=contact_external_id,
        search_field=search_field if search_value else None,
        search_value=search_value,
        wait_seconds=settings.customer_wait_seconds if wait else 0.0,
        guest_external_id=guest_external_id[:255] if settings.guest_sales else None,
        guest_name=settings.guest_name,
        guest_source=normalize_source(guest_source),
        guest_tags=normalize_tags(settings.guest_tags),
    )


def customer_deal(
    external_id: str,
    updated_at: datetime | None,
    deal: LeadDeal,
    customer: CustomerRef,
) -> UpsertCustomerDeal:
    return UpsertCustomerDeal(
        external_id=external_id, source_updated_at=updated_at, deal=deal, customer=customer
    )


def completion(
    person: Person, deal_external_id: str, updated_at: datetime | None
) -> list[CompleteContact]:
    """What the deal row cannot carry to an existing contact; none when the row says it all
    (a single email or phone and no name)."""
    named = bool(person.first_name or person.last_name)
    if not person.reachable or (len(person.emails) + len(person.phones) < 2 and not named):
        return []
    return [
        CompleteContact(
            external_id=f"{deal_external_id}:contact"[:255],
            source_updated_at=updated_at,
            deal_external_id=deal_external_id,
            emails=person.emails,
            phones=person.phones,
            first_name=person.first_name,
            last_name=person.last_name,
        )
    ]
