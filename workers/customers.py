"""Contacts the CRM cannot find by itself: one person, one contact, complete.

Three jobs, each called from a sender through a small hook:

- `deal_commands` (DEALS): an UpsertCustomerDeal names no person, only where to look.
  Its contact is, in order: the one its deal is already on (id map), the one recorded
  for its customer's external id (written when the customer's event was sent), the one
  a CRM search on `custom_fields->>{field}` finds. While none is known it waits, as a
  transient retry, up to `wait_seconds` for the customer's event; then it takes the
  guest contact (one per shop or Stripe account, created once under a Redis lock) and
  the deal is tagged `guest`.
- `contacts_apart` (CONTACTS): an UpsertContact without email or phone cannot go
  through /import-contacts-bulk (nothing to match it on: every resend would create a
  contact), so it is found by its external id (id map, then a search) and merged, or
  created. Such a stub is remembered, so the customer's later event that brings an
  email merges into the same contact instead of starting a new one.
- also `contacts_apart`: CompleteContact adds what an event knows to the contact its
  deal went to (the CRM links a deal to a matched contact without updating it). The
  contacts are read in one request; rows that only add emails and phones go out in one
  /import-contacts-bulk, carrying every email and phone the contact already has, first
  the one it is matched on (so the merge lands on it, whether the CRM unions arrays or
  replaces them) and no names (a merge overwrites names). A missing name is written by
  a guarded PATCH: filtered on the `updated_at` read, and when that matches nothing
  (someone changed the contact meanwhile) read again and merged again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from adapter.crm.client import CrmClient
from adapter.crm.commands import (
    CompleteContact,
    CustomerRef,
    UpdateDeal,
    UpsertContact,
    UpsertCustomerDeal,
    UpsertDeal,
)
from adapter.crm.errors import CrmError
from adapter.crm.models import (
    BulkContactsRequest,
    BulkDeal,
    Contact,
    ContactRecord,
    ContactUpdate,
)
from workers.batch import Batch
from workers.idmap import Record, digest
from workers.outbox import Claimed
from workers.ratelimit import LimiterTimeout
from workers.status import record_crm_success

log = logging.getLogger(__name__)

GUEST_LOCK_PREFIX = "customers:guest-lock:"
STUB_PREFIX = "customers:stub:"
# how often a guarded PATCH reads again after losing a race, within one attempt
GUARD_ROUNDS = 3


class _Unresolved(Exception):
    """No contact yet; the claimed entry has been decided (retry later or dead letter)."""


# --- DEALS: the contact of a sale without a person ---------------------------


def deal_commands(
    batch: Batch, crm: CrmClient, live: Sequence[Claimed]
) -> dict[str, UpsertDeal | UpdateDeal]:
    """The deal command to send for each claimed entry; entries whose contact cannot be
    resolved now are decided here and left out."""
    commands: dict[str, UpsertDeal | UpdateDeal] = {}
    for claimed in live:
        assert claimed.entry is not None
        command = claimed.entry.command
        if isinstance(command, UpsertDeal | UpdateDeal):
            commands[claimed.id] = command
            continue
        if not isinstance(command, UpsertCustomerDeal):
            batch.dead(claimed, f"{command.kind} is not a deal")
            continue
        try:
            contact_id, guest = _resolve(batch, crm, claimed, command)
        except _Unresolved:
            continue
        except LimiterTimeout as exc:
            batch.later(claimed, exc.wait)
            continue
        except CrmError as exc:
            batch.request_failed([claimed], exc)
            continue
        commands[claimed.id] = resolved_deal(command, contact_id, guest)
    return commands


def resolved_deal(command: UpsertCustomerDeal, contact_id: str, guest: bool) -> UpsertDeal:
    row: dict[str, Any] = command.deal.model_dump(exclude_none=True)
    if guest and command.customer.guest_tags:
        row["tags"] = list(dict.fromkeys([*(row.get("tags") or []), *command.customer.guest_tags]))
    return UpsertDeal(
        external_id=command.external_id,
        source_updated_at=command.source_updated_at,
        deal=BulkDeal.model_validate({**row, "contact_id": contact_id}),
    )


def _resolve(
    batch: Batch, crm: CrmClient, claimed: Claimed, command: UpsertCustomerDeal
) -> tuple[str, bool]:
    """(contact id, whether it is the guest)."""
    ctx = batch.ctx
    ref = command.customer
    known = ctx.idmap.get(command.external_id)
    if known.deal_id and known.contact_id:
        # the deal exists (another event of the sale made it): it stays where it is
        return known.contact_id, False
    found = _customer_contact(batch, crm, ref)
    if found is not None:
        return found, False
    entry = claimed.entry
    assert entry is not None
    waited = time.time() - (entry.first_failure_at or time.time())
    if waited < ref.wait_seconds:
        who = f"customer {ref.search_value}" if ref.search_value else "a person for this sale"
        batch.transient(
            claimed,
            f"waiting for {who} (up to {ref.wait_seconds:.0f}s)",
            give_up_after=ref.wait_seconds + ctx.options.give_up_after,
        )
        raise _Unresolved
    if ref.guest_external_id is None:
        batch.dead(claimed, "no contact for this sale's customer, and guest sales are off")
        raise _Unresolved
    guest = _guest_contact(batch, crm, claimed, ref, ref.guest_external_id)
    return guest, True


def _customer_contact(batch: Batch, crm: CrmClient, ref: CustomerRef) -> str | None:
    idmap = batch.ctx.idmap
    if ref.contact_external_id:
        known = idmap.get(ref.contact_external_id).contact_id
        if known:
            return known
    if ref.search_field and ref.search_value:
        found = crm.find_contacts_by_custom_field(ref.search_field, ref.search_value, limit=1)
        batch.keepalive()
        if found:
            if ref.contact_external_id:
                idmap.record(ref.contact_external_id, contact_id=found[0].id)
            return found[0].id
    return None


def _guest_contact(
    batch: Batch, crm: CrmClient, claimed: Claimed, ref: CustomerRef, external_id: str
) -> str:
    """The guest contact's id: the id map's, a search's, or a new one, created once."""
    ctx = batch.ctx
    known = ctx.idmap.get(external_id).contact_id
    if known:
        return known
    lock = ctx.ns + GUEST_LOCK_PREFIX + external_id
    token = claimed.id
    if not ctx.redis.set(lock, token, nx=True, px=int(ctx.options.lease * 1000)):
        batch.later(claimed, 1.0)
        raise _Unresolved
    batch.hold_lock(lock, token)
    try:
        found = crm.find_contacts_by_custom_field("external_id", external_id, limit=1)
        if found:
            contact_id = found[0].id
        else:
            contact = Contact(
                first_name=ref.guest_name,
                source=ref.guest_source,
                tags=ref.guest_tags or None,
                custom_fields={"external_id": external_id, "guest_contact": True},
            )
            contact_id = crm.create_contact(contact).id
            log.info("created the guest contact %s", external_id)
        ctx.idmap.record(external_id, contact_id=contact_id)
        return contact_id
    finally:
        batch.drop_lock(lock)
        if ctx.redis.get(lock) == token:
            ctx.redis.delete(lock)


# --- CONTACTS: stubs and completions -----------------------------------------


def needs_apart(command: object, stub: bool) -> bool:
    if isinstance(command, CompleteContact):
        return True
    if isinstance(command, UpsertContact):
        return stub or not (command.contact.emails or command.contact.phones)
    return False


def contacts_apart(batch: Batch, crm: CrmClient, live: Sequence[Claimed]) -> list[Claimed]:
    """Handle the entries /import-contacts-bulk cannot take as they are; the others back."""
    external_ids = [c.entry.command.external_id for c in live if c.entry is not None]
    flags = (
        batch.ctx.redis.mget([batch.ctx.ns + STUB_PREFIX + e for e in external_ids])
        if external_ids
        else []
    )
    stubs = {ext for ext, flag in zip(external_ids, flags, strict=True) if flag}
    rest: list[Claimed] = []
    completions: list[tuple[Claimed, CompleteContact]] = []
    for claimed in live:
        assert claimed.entry is not None
        command = claimed.entry.command
        if not needs_apart(command, command.external_id in stubs):
            rest.append(claimed)
        elif isinstance(command, CompleteContact):
            completions.append((claimed, command))
        elif isinstance(command, UpsertContact):
            _guard_errors(batch, [claimed], partial(_stub, batch, crm, claimed, command))
    if completions:
        claimed_ones = [c for c, _ in completions]
        _guard_errors(batch, claimed_ones, partial(_complete, batch, crm, completions))
    return rest


def _guard_errors(batch: Batch, claimed: list[Claimed], work: Callable[[], None]) -> None:
    """Run `work`; on a CRM error or a limiter timeout, decide what it left undecided."""
    try:
        work()
    except LimiterTimeout as exc:
        for c in _undecided(batch, claimed):
            batch.later(c, exc.wait)
    except CrmError as exc:
        batch.request_failed(_undecided(batch, claimed), exc)


def _undecided(batch: Batch, claimed: list[Claimed]) -> list[Claimed]:
    pending = {c.id for c in batch.pending()}
    return [c for c in claimed if c.id in pending]


def _stub(batch: Batch, crm: CrmClient, claimed: Claimed, command: UpsertContact) -> None:
    """A customer's contact found by its external id, merged; or created."""
    ctx = batch.ctx
    record = ctx.idmap.get(command.external_id)
    if record.supersedes(command):
        batch.done(claimed)
        return
    contact_id = record.contact_id
    current = crm.get_contact(contact_id) if contact_id else None
    if current is None:
        found = crm.find_contacts_by_custom_field("external_id", command.external_id, limit=1)
        current = found[0] if found else None
    batch.keepalive()
    if current is None:
        contact_id = crm.create_contact(command.contact).id
    else:
        contact_id = current.id
        if not _guarded_merge(batch, crm, current, _contact_merge(command.contact)):
            batch.transient(claimed, "the contact kept changing while it was merged", alone=True)
            return
    record_crm_success(ctx.redis, ctx.ns)
    reachable = bool(command.contact.emails or command.contact.phones)
    if reachable:
        ctx.redis.delete(ctx.ns + STUB_PREFIX + command.external_id)
    else:
        ctx.redis.set(ctx.ns + STUB_PREFIX + command.external_id, "1")
    ctx.idmap.record(command.external_id, contact_id=contact_id, applied=command, previous=record)
    batch.done(claimed)


@dataclass(frozen=True)
class _Offer:
    """What an event offers a contact: added where missing, never replacing."""

    emails: list[str]
    phones: list[str]
    first_name: str | None = None
    last_name: str | None = None
    custom_fields: dict[str, Any] | None = None
    tags: list[str] | None = None
    source: str | None = None


def _contact_merge(contact: Contact) -> _Offer:
    return _Offer(
        emails=list(contact.emails or []),
        phones=list(contact.phones or []),
        first_name=contact.first_name,
        last_name=contact.last_name,
        custom_fields=contact.custom_fields,
        tags=contact.tags,
        source=contact.source,
    )


def merged(current: ContactRecord, offer: _Offer) -> dict[str, Any]:
    """The fields to PATCH so that `current` has what `offer` adds; {} when nothing."""
    changes: dict[str, Any] = {}
    emails = list(dict.fromkeys([*(current.emails or []), *offer.emails]))
    if emails != (current.emails or []):
        changes["emails"] = emails
    phones = list(dict.fromkeys([*(current.phones or []), *offer.phones]))
    if phones != (current.phones or []):
        changes["phones"] = phones
    # a name someone typed is never replaced: only a contact without any gets one
    if not (current.first_name or current.last_name) and (offer.first_name or offer.last_name):
        changes["first_name"] = offer.first_name
        changes["last_name"] = offer.last_name
    if offer.custom_fields:
        fields = {**(current.custom_fields or {}), **offer.custom_fields}
        if fields != (current.custom_fields or {}):
            changes["custom_fields"] = fields
    if offer.tags:
        tags = list(dict.fromkeys([*(current.tags or []), *offer.tags]))
        if tags != (current.tags or []):
            changes["tags"] = tags
    if offer.source and not current.source:
        changes["source"] = offer.source
    return changes


def _guarded_merge(batch: Batch, crm: CrmClient, current: ContactRecord, offer: _Offer) -> bool:
    """Read-merge-write under the `updated_at` guard; False when it kept losing the race."""
    for _ in range(GUARD_ROUNDS):
        changes = merged(current, offer)
        if not changes:
            return True
        updated_at = getattr(current, "updated_at", None)
        update = ContactUpdate.model_construct(**changes)
        if isinstance(updated_at, str) and updated_at:
            written = crm.update_contact_if_unchanged(current.id, updated_at, update)
        else:
            written = crm.update_contact(current.id, update)
        batch.keepalive()
        if written:
            return True
        again = crm.get_contact(current.id)
        if again is None:
            return True  # deleted in the CRM: nothing left to complete
        current = again
    return False


def _complete(
    batch: Batch, crm: CrmClient, completions: list[tuple[Claimed, CompleteContact]]
) -> None:
    ctx = batch.ctx
    records = ctx.idmap.get_many(c.external_id for _, c in completions)
    deals = ctx.idmap.get_many(c.deal_external_id or "" for _, c in completions)
    waiting: list[tuple[Claimed, CompleteContact, str]] = []
    for claimed, command in completions:
        record = records[command.external_id]
        if record.supersedes(command) or _offered_before(record, command):
            batch.done(claimed)
            continue
        contact_id = deals[command.deal_external_id or ""].contact_id
        if contact_id is None:
            # its deal has not been sent yet: that send records the contact
            batch.transient(
                claimed,
                "waiting for the deal to find its contact",
                give_up_after=ctx.options.missing_deal_grace,
            )
            continue
        waiting.append((claimed, command, contact_id))
    if not waiting:
        return
    contacts = {c.id: c for c in crm.get_contacts([cid for _, _, cid in waiting])}
    batch.keepalive()
    bulk: list[tuple[Claimed, CompleteContact, Contact]] = []
    for claimed, command, contact_id in waiting:
        current = contacts.get(contact_id)
        offer = _Offer(
            emails=command.emails,
            phones=command.phones,
            first_name=command.first_name,
            last_name=command.last_name,
        )
        changes = merged(current, offer) if current is not None else {}
        if current is None or not changes:
            _applied(batch, claimed, command, contact_id)
        elif "first_name" in changes or not current.emails:
            if _guarded_merge(batch, crm, current, offer):
                _applied(batch, claimed, command, contact_id)
            else:
                batch.transient(claimed, "the contact kept changing while it was completed")
        else:
            bulk.append((claimed, command, _bulk_row(current, changes)))
    if bulk:
        response = crm.import_contacts_bulk(BulkContactsRequest(contacts=[r for _, _, r in bulk]))
        rows = {row.index: row for row in response.results}
        for index, (claimed, command, _) in enumerate(bulk):
            row = rows.get(index)
            if row is None or not row.success:
                batch.row_failed(claimed, row.error if row else "no row in the bulk answer")
            else:
                _applied(batch, claimed, command, row.contact_id or "")
    record_crm_success(ctx.redis, ctx.ns)


def _offered_before(record: Record, command: CompleteContact) -> bool:
    """The last completion applied offered exactly this (a newer delivery of the same
    person): it adds nothing, so the contact is not even read. The applied one's digest
    is over its own `updated_at`, which the record keeps as `applied_at`."""
    if record.applied_digest is None or record.applied_at is None:
        return False
    same_but_when = command.model_copy(update={"source_updated_at": record.applied_at})
    return record.applied_digest == digest(same_but_when)


def _bulk_row(current: ContactRecord, changes: dict[str, Any]) -> Contact:
    """Every email and phone the contact has and gets, its own first email first (what the
    import matches on), and nothing else: a merge overwrites scalars such as names."""
    return Contact(
        emails=changes.get("emails", current.emails) or None,
        phones=changes.get("phones", current.phones) or None,
    )


def _applied(batch: Batch, claimed: Claimed, command: CompleteContact, contact_id: str) -> None:
    records = batch.ctx.idmap
    records.record(
        command.external_id,
        contact_id=contact_id or None,
        applied=command,
        previous=records.get(command.external_id),
    )
    batch.done(claimed)
