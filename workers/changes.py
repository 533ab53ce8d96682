"""CHANGES: one record at a time — updates to existing deals, and redactions (see
`workers.redaction`).

The CRM has no bulk update, and PATCH replaces `custom_fields` whole, so each change
reads the deal, merges, and writes: GET then PATCH. A command older than (or the same
as) the one last applied for its external id is skipped without a request.
"""

from __future__ import annotations

import logging
from typing import Any

from adapter.crm.client import CrmClient
from adapter.crm.commands import RedactContact, UpdateDeal, UpsertDeal
from adapter.crm.errors import CrmError
from adapter.crm.models import DealRecord, DealUpdate
from workers.batch import Batch
from workers.deals import with_external_id
from workers.outbox import Claimed, Entry
from workers.ratelimit import LimiterTimeout
from workers.redaction import redact
from workers.status import record_crm_success

log = logging.getLogger(__name__)


class DealMissing(Exception):
    """The deal to change is not in the CRM (not created yet, or deleted)."""


def send_change(batch: Batch, crm: CrmClient) -> None:
    for claimed in batch.live():
        assert claimed.entry is not None
        command = claimed.entry.command
        try:
            if isinstance(command, UpsertDeal):
                _upsert_existing(batch, crm, claimed, command)
            elif isinstance(command, UpdateDeal):
                _update(batch, crm, claimed, command)
            elif isinstance(command, RedactContact):
                redact(batch, crm, claimed, command)
            else:
                batch.dead(claimed, f"{command.kind} is not a change")
        except LimiterTimeout as exc:
            batch.later(claimed, exc.wait)
        except CrmError as exc:
            batch.request_failed([claimed], exc)


# what an upsert changes on a deal that exists
UPSERT_FIELDS = ("stage", "value", "currency", "tags", "custom_fields")


def change_fields(command: UpsertDeal | UpdateDeal) -> dict[str, Any]:
    if isinstance(command, UpsertDeal):
        deal = command.deal
        return {n: getattr(deal, n) for n in UPSERT_FIELDS if getattr(deal, n) is not None}
    changes = command.changes
    return {name: getattr(changes, name) for name in changes.model_fields_set}


def merged_changes(current: DealRecord, fields: dict[str, Any], external_id: str) -> DealUpdate:
    """The PATCH for `current`: the given fields, with tags added to the deal's own and
    custom_fields merged into the deal's (the command's keys win)."""
    changes = {k: v for k, v in fields.items() if k not in ("tags", "custom_fields")}
    tags = fields.get("tags")
    if tags:
        changes["tags"] = list(dict.fromkeys([*(current.tags or []), *tags]))
    custom = fields.get("custom_fields")
    if custom is not None or not (current.custom_fields or {}).get("external_id"):
        changes["custom_fields"] = with_external_id(
            {**(current.custom_fields or {}), **(custom or {})}, external_id
        )
    # not validated again: our part was validated as a command, and the CRM's own keys
    # go back as the CRM holds them, even where our stricter contract would refuse them
    return DealUpdate.model_construct(**changes)


def _patch(crm: CrmClient, batch: Batch, deal_id: str, command: UpsertDeal | UpdateDeal) -> str:
    """Read, merge, write one deal; the contact id it belongs to."""
    current = crm.get_deal(deal_id)
    if current is None:
        raise DealMissing(deal_id)
    batch.keepalive()
    changes = merged_changes(current, change_fields(command), command.external_id)
    updated = crm.update_deal(deal_id, changes)
    if not updated:
        raise DealMissing(deal_id)
    record_crm_success(batch.ctx.redis)
    return updated[0].contact_id or current.contact_id or ""


def _upsert_existing(batch: Batch, crm: CrmClient, claimed: Claimed, command: UpsertDeal) -> None:
    ctx = batch.ctx
    record = ctx.idmap.get(command.external_id)
    if record.supersedes(command):
        batch.done(claimed)
        return
    assert claimed.entry is not None
    deal_id = claimed.entry.deal_id or record.deal_id
    if deal_id is None:
        batch.follow_up(claimed, Entry(command=command, origin=claimed.entry.origin))
        return
    ctx.idmap.note_attempts([(command, record)], create=False)
    try:
        contact_id = _patch(crm, batch, deal_id, command)
    except DealMissing:
        # deleted in the CRM: create it again
        ctx.idmap.forget_deal(command.external_id)
        batch.follow_up(claimed, Entry(command=command, create=True, origin=claimed.entry.origin))
        return
    ctx.idmap.record(
        command.external_id,
        deal_id=deal_id,
        contact_id=contact_id or None,
        applied=command,
        previous=record,
    )
    batch.done(claimed)


def _update(batch: Batch, crm: CrmClient, claimed: Claimed, command: UpdateDeal) -> None:
    ctx = batch.ctx
    record = ctx.idmap.get(command.external_id)
    if record.supersedes(command):
        batch.done(claimed)
        return
    assert claimed.entry is not None
    deal_id = claimed.entry.deal_id or record.deal_id
    contact_id = None
    # a partial change is not noted as attempted: it must not hold back the create of
    # the deal it waits for, which is older than itself
    try:
        if deal_id is None:
            found = crm.find_deals_by_external_id(command.external_id, limit=1)
            if not found:
                raise DealMissing(command.external_id)
            deal_id = found[0].id
            ctx.idmap.record(command.external_id, deal_id=deal_id)
        contact_id = _patch(crm, batch, deal_id, command)
    except DealMissing:
        if deal_id is not None:
            ctx.idmap.forget_deal(command.external_id)
        # the create may simply be late: wait for it, within a bound
        batch.transient(
            claimed,
            f"no deal with external id {command.external_id} yet",
            give_up_after=ctx.options.missing_deal_grace,
        )
        return
    ctx.idmap.record(
        command.external_id,
        deal_id=deal_id,
        contact_id=contact_id or None,
        applied=command,
        previous=record,
    )
    batch.done(claimed)
