"""RedactContact: take a person out of every place we put them.

- Their contacts: found by email, by phone, and by the customer's external id (the id
  map, then `custom_fields->>external_id`), which also finds a contact made without any
  email or phone. Names, emails, phones, description and personal custom fields are
  blanked; the contact is tagged `redacted`.
- The deals of those contacts, and the deals of the orders the request names (Shopify's
  `orders_to_redact`), wherever they are linked (a guest sale is on the guest contact):
  personal custom fields dropped, and the person's name, emails and phones cut out of
  the title and description (a form's default title is `{form}: {person}`).
- Our own queues: commands still waiting in the outbox for this person are delivered
  first (the redaction waits for them, within a bound), so that what they create is
  redacted too; dead letters that carry the person are dropped.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from adapter.crm.client import CrmClient
from adapter.crm.commands import RedactContact
from adapter.crm.models import ContactRecord, ContactUpdate, DealRecord, DealUpdate
from workers.batch import Batch
from workers.context import Context
from workers.outbox import Claimed, Kind
from workers.privacy import is_personal_field
from workers.status import record_crm_success

log = logging.getLogger(__name__)

REDACTED_TAG = "redacted"
REDACTED_TEXT = "[redacted]"
# how long a redaction waits for the person's queued commands to be delivered first
QUEUED_WAIT_SECONDS = 600.0
QUEUED_RECHECK_SECONDS = 5.0


def redaction(contact: ContactRecord) -> ContactUpdate:
    """Blank the person out of a contact; keep what is not personal, tag it."""
    fields = {k: v for k, v in (contact.custom_fields or {}).items() if not is_personal_field(k)}
    tags = list(dict.fromkeys([*(contact.tags or []), REDACTED_TAG]))
    # model_construct: the CRM's remaining keys go back as they are
    return ContactUpdate.model_construct(
        first_name=None,
        last_name=None,
        emails=[],
        phones=[],
        description=None,
        custom_fields=fields,
        tags=tags,
    )


def person_terms(command: RedactContact, contacts: Iterable[ContactRecord]) -> list[str]:
    """What identifies the person in free text: names, emails, phones; longest first."""
    terms: set[str] = {*command.emails, *command.phones}
    for contact in contacts:
        names = [n for n in (contact.first_name, contact.last_name) if n]
        if names:
            terms.add(" ".join(names))
        terms.update(names)
        terms.update(contact.emails or [])
        terms.update(contact.phones or [])
    return sorted((t for t in terms if len(t.strip()) >= 2), key=len, reverse=True)


def without_person(text: str | None, terms: list[str]) -> str | None:
    """`text` with every term (whole words, any case) replaced; None when unchanged."""
    if not text or not terms:
        return None
    pattern = "|".join(rf"(?<!\w){re.escape(term)}(?!\w)" for term in terms)
    scrubbed = re.sub(pattern, REDACTED_TEXT, text, flags=re.IGNORECASE)
    return scrubbed if scrubbed != text else None


def deal_redaction(deal: DealRecord, terms: list[str]) -> DealUpdate | None:
    """The PATCH that takes the person out of a deal, or None when it holds nothing of them."""
    changes: dict[str, Any] = {}
    fields = deal.custom_fields or {}
    kept = {k: v for k, v in fields.items() if not is_personal_field(k)}
    if kept != fields:
        changes["custom_fields"] = kept
    title = without_person(deal.title, terms)
    if title is not None:
        changes["title"] = title[:200]
    description = without_person(getattr(deal, "description", None), terms)
    if description is not None:
        changes["description"] = description
    return DealUpdate.model_construct(**changes) if changes else None


def carries(text: str, needles: list[str]) -> bool:
    lowered = text.lower()
    return any(needle.lower() in lowered for needle in needles)


def _needles(command: RedactContact) -> list[str]:
    phones_digits = [p.lstrip("+") for p in command.phones]
    return [n for n in (*command.emails, *phones_digits, *command.deal_external_ids) if n]


def queued_for(ctx: Context, command: RedactContact, own_id: str) -> int:
    """How many outbox entries (other than the redaction itself) carry the person."""
    needles = _needles(command)
    if not needles:
        return 0
    count = 0
    for kind in Kind:
        for entry_id, entry in ctx.outbox.entries(kind):
            if entry_id == own_id or entry.command.kind == "redact_contact":
                continue
            if carries(entry.command.model_dump_json(), needles):
                count += 1
    return count


def drop_dead_letters(ctx: Context, command: RedactContact) -> int:
    needles = _needles(command)
    if not needles:
        return 0
    dropped = 0
    for letter_id in ctx.deadletters.ids():
        letter = ctx.deadletters.get(letter_id)
        if letter is None or letter.command_kind == "redact_contact":
            continue
        if carries(json.dumps(letter.model_dump(mode="json"), ensure_ascii=False), needles):
            dropped += int(ctx.deadletters.drop(letter_id))
    return dropped


def redact(batch: Batch, crm: CrmClient, claimed: Claimed, command: RedactContact) -> None:
    ctx = batch.ctx
    entry = claimed.entry
    assert entry is not None
    arrived = entry.received_at.timestamp() if entry.received_at else time.time()
    queued = queued_for(ctx, command, claimed.id)
    if queued and time.time() - arrived < QUEUED_WAIT_SECONDS:
        batch.later(claimed, QUEUED_RECHECK_SECONDS)
        return
    started = time.monotonic()
    found = _contacts(batch, crm, command)
    terms = person_terms(command, found.values())
    deals: dict[str, DealRecord] = {}
    for contact in found.values():
        crm.update_contact(contact.id, redaction(contact))
        batch.keepalive()
        deals.update((d.id, d) for d in crm.list_deals({"contact_id": f"eq.{contact.id}"}))
        batch.keepalive()
    for external_id in command.deal_external_ids:
        deals.update((d.id, d) for d in crm.find_deals_by_external_id(external_id))
        batch.keepalive()
    scrubbed = 0
    for deal in deals.values():
        update = deal_redaction(deal, terms)
        if update is not None:
            crm.update_deal(deal.id, update)
            scrubbed += 1
            batch.keepalive()
    dropped = drop_dead_letters(ctx, command)
    record_crm_success(ctx.redis, ctx.ns)
    log.info(
        "redacted %d contact(s) and %d deal(s), dropped %d dead letter(s) for %s in %.1fs%s",
        len(found),
        scrubbed,
        dropped,
        command.external_id,
        time.monotonic() - started,
        f" ({queued} queued command(s) still carried the person)" if queued else "",
    )
    batch.done(claimed)


def _contacts(batch: Batch, crm: CrmClient, command: RedactContact) -> dict[str, ContactRecord]:
    found: dict[str, ContactRecord] = {}
    for email in command.emails:
        found.update((c.id, c) for c in crm.find_contacts_by_email(email))
        batch.keepalive()
    for phone in command.phones:
        found.update((c.id, c) for c in crm.find_contacts_by_phone(phone))
        batch.keepalive()
    known = batch.ctx.idmap.get(command.external_id).contact_id
    by_id = crm.get_contact(known) if known else None
    if by_id is not None:
        found[by_id.id] = by_id
    for contact in crm.find_contacts_by_custom_field("external_id", command.external_id):
        found[contact.id] = contact
    batch.keepalive()
    return found
