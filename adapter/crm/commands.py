"""CRM commands: what a mapper asks the delivery side to do.

Mappers turn one verified delivery into a list of commands; workers turn
commands into CRM requests. Commands are plain JSON (they travel through
Redis), carry the external id that makes delivery idempotent, and the source's
own `updated_at` so that an older update never overwrites a newer one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from adapter.crm.models import BulkDeal, Contact, DealUpdate, Lead, LeadDeal


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: Annotated[str, Field(min_length=1, max_length=255)]
    # When the source last changed the record; None means "no ordering known".
    source_updated_at: datetime | None = None


class UpsertContact(_Command):
    """Create the contact, or merge into the one matched by email, then phone."""

    kind: Literal["upsert_contact"] = "upsert_contact"
    contact: Contact


class UpsertDeal(_Command):
    """Create the deal (and its contact when missing), or update the existing one.

    The title is deterministic per external id, so `skip_if_exists` finds it again.
    On an existing deal only stage, value, currency, tags and custom_fields change
    (custom_fields merged, not replaced).
    """

    kind: Literal["upsert_deal"] = "upsert_deal"
    deal: BulkDeal


class UpdateDeal(_Command):
    """Change an existing deal (found by external id) when the source has no contact to
    create it with, e.g. a Shopify refund. `changes.custom_fields` is merged, not replaced.
    A deal that does not exist yet is retried for a while, then dead-lettered.
    """

    kind: Literal["update_deal"] = "update_deal"
    changes: DealUpdate


class CustomerRef(BaseModel):
    """How the worker finds the contact of a sale whose payload names no person.

    In order: the contact the id map holds for `contact_external_id` (recorded when the
    customer's own event was sent), then a CRM search on `custom_fields->>{search_field}`;
    while neither knows it, the command waits up to `wait_seconds` for the customer's
    event; then it goes to the guest contact `guest_external_id` (None: dead-letter).
    """

    model_config = ConfigDict(extra="forbid")

    contact_external_id: str | None = None
    search_field: str | None = None
    search_value: str | None = None
    wait_seconds: float = 0.0
    guest_external_id: str | None = None
    guest_name: str | None = None
    guest_source: str | None = None
    # added to the deal's tags when it goes to the guest
    guest_tags: list[str] = Field(default_factory=list)


class UpsertCustomerDeal(_Command):
    """An UpsertDeal whose contact the worker resolves (see CustomerRef): a Stripe payment
    with only a customer id, a Shopify order without any contact details."""

    kind: Literal["upsert_customer_deal"] = "upsert_customer_deal"
    deal: LeadDeal
    customer: CustomerRef


class CompleteContact(_Command):
    """Add what a delivery knows about its person to the contact its deal is linked to:
    emails and phones the contact lacks, and a name when it has none. Never removes.

    The contact is the one the id map holds for `deal_external_id`, or failing that the
    one found by these emails, then phones.
    """

    kind: Literal["complete_contact"] = "complete_contact"
    deal_external_id: str | None = None
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    first_name: str | None = None
    last_name: str | None = None


class CreateLead(_Command):
    """A contact and a deal from a form or an abandoned checkout, created once."""

    kind: Literal["create_lead"] = "create_lead"
    lead: Lead


class RedactContact(_Command):
    """Remove a customer's personal data from the CRM contact(s) that hold it."""

    kind: Literal["redact_contact"] = "redact_contact"
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    # deals of the person's orders (Shopify `orders_to_redact`), wherever they are linked
    deal_external_ids: list[str] = Field(default_factory=list)


class ForgetShop(_Command):
    """Delete the adapter's own data (id maps, checkpoints) for a shop."""

    kind: Literal["forget_shop"] = "forget_shop"
    shop_domain: str


class RecordDataRequest(_Command):
    """A shop's customers/data_request: recorded for the merchant, nothing sent to the CRM."""

    kind: Literal["record_data_request"] = "record_data_request"
    shop_domain: str
    orders_requested: list[str] = Field(default_factory=list)


AnyCommand = (
    UpsertContact
    | UpsertDeal
    | UpdateDeal
    | UpsertCustomerDeal
    | CompleteContact
    | CreateLead
    | RedactContact
    | ForgetShop
    | RecordDataRequest
)
Command = Annotated[AnyCommand, Field(discriminator="kind")]

_COMMAND: TypeAdapter[AnyCommand] = TypeAdapter(Command)
_COMMANDS: TypeAdapter[list[AnyCommand]] = TypeAdapter(list[Command])


def command_from_json(data: dict[str, Any] | str | bytes) -> AnyCommand:
    if isinstance(data, dict):
        return _COMMAND.validate_python(data)
    return _COMMAND.validate_json(data)


def commands_to_json(commands: list[AnyCommand]) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json", exclude_none=True) for c in commands]


def commands_from_json(data: list[dict[str, Any]]) -> list[AnyCommand]:
    return _COMMANDS.validate_python(data)
