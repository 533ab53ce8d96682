"""CHANGES: redactions, one at a time.

A redaction finds the person's contacts by email and phone, blanks them, and drops
personal keys from their deals' custom_fields (read, then PATCH: custom_fields is
replaced whole). Updates to deals are sent by `workers.deals`, where a create and its
updates for one order merge while they wait.
"""

from __future__ import annotations

import logging
import time

from adapter.crm.client import CrmClient
from adapter.crm.commands import RedactContact, UpdateDeal, UpsertDeal
from adapter.crm.errors import CrmError
from adapter.crm.models import ContactRecord, ContactUpdate, DealUpdate
from workers.batch import Batch
from workers.outbox import Claimed
from workers.privacy import is_personal_field
from workers.ratelimit import LimiterTimeout
from workers.status import record_crm_success

log = logging.getLogger(__name__)

REDACTED_TAG = "redacted"


def send_change(batch: Batch, crm: CrmClient) -> None:
    for claimed in batch.live():
        assert claimed.entry is not None
        command = claimed.entry.command
        try:
            if isinstance(command, RedactContact):
                _redact(batch, crm, claimed, command)
            elif isinstance(command, UpsertDeal | UpdateDeal):
                # queued here by an earlier version: deal commands now go to DEALS
                batch.follow_up(claimed, claimed.entry)
            else:
                batch.dead(claimed, f"{command.kind} is not a change")
        except LimiterTimeout as exc:
            batch.later(claimed, exc.wait)
        except CrmError as exc:
            batch.request_failed([claimed], exc)


def redaction(contact: ContactRecord) -> ContactUpdate:
    """Blank the person out of a contact; keep what is not personal, tag it."""
    fields = {k: v for k, v in (contact.custom_fields or {}).items() if not is_personal_field(k)}
    tags = list(dict.fromkeys([*(contact.tags or []), REDACTED_TAG]))
    # model_construct: the CRM's remaining keys go back as they are (as `workers.deals` does)
    return ContactUpdate.model_construct(
        first_name=None,
        last_name=None,
        emails=[],
        phones=[],
        description=None,
        custom_fields=fields,
        tags=tags,
    )


def _redact(batch: Batch, crm: CrmClient, claimed: Claimed, command: RedactContact) -> None:
    started = time.monotonic()
    found: dict[str, ContactRecord] = {}
    for email in command.emails:
        found.update((c.id, c) for c in crm.find_contacts_by_email(email))
        batch.keepalive()
    for phone in command.phones:
        found.update((c.id, c) for c in crm.find_contacts_by_phone(phone))
        batch.keepalive()
    scrubbed = 0
    for contact in found.values():
        crm.update_contact(contact.id, redaction(contact))
        batch.keepalive()
        # the contact's deals may carry the raw email or phone in their custom_fields
        for deal in crm.list_deals({"contact_id": f"eq.{contact.id}"}):
            fields = deal.custom_fields or {}
            kept = {k: v for k, v in fields.items() if not is_personal_field(k)}
            if kept != fields:
                crm.update_deal(deal.id, DealUpdate.model_construct(custom_fields=kept))
                scrubbed += 1
            batch.keepalive()
    record_crm_success(batch.ctx.redis)
    log.info(
        "redacted %d contact(s) and %d deal(s) for %s in %.1fs",
        len(found),
        scrubbed,
        command.external_id,
        time.monotonic() - started,
    )
    batch.done(claimed)
