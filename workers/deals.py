"""DEALS: UpsertDeal commands for deals we do not know yet, 100 to a /create-deals-bulk.

Every row carries `skip_if_exists` and its deterministic title, so a resend after a
lost answer creates nothing twice: the CRM reports the row as skipped with the
existing deal's id. A skipped row is then either the deal our own earlier attempt of
this same command created (the id map's attempts say so: nothing more to do), or a
deal in another state, queued to CHANGES to be PATCHed to this command — which is the
newest ever sent for its external id, since older ones are skipped before sending.
"""

from __future__ import annotations

from typing import Any

from adapter.crm.client import CrmClient
from adapter.crm.commands import UpsertDeal
from adapter.crm.errors import CrmError
from adapter.crm.models import BulkDeal, BulkDealsRequest, DealRowResult
from workers import customers
from workers.batch import Batch
from workers.idmap import Record
from workers.outbox import Claimed, Entry
from workers.ratelimit import LimiterTimeout
from workers.status import record_crm_success


def with_external_id(custom_fields: dict[str, Any] | None, external_id: str) -> dict[str, Any]:
    """custom_fields carrying our external id, which is how the deal is found again."""
    fields = dict(custom_fields or {})
    fields.setdefault("external_id", external_id)
    return fields


def bulk_row(command: UpsertDeal) -> BulkDeal:
    deal = command.deal
    update: dict[str, Any] = {
        "custom_fields": with_external_id(deal.custom_fields, command.external_id)
    }
    if deal.create_contact_if_missing is None:
        update["create_contact_if_missing"] = True
    return deal.model_copy(update=update)


def send_deals(batch: Batch, crm: CrmClient) -> None:
    ctx = batch.ctx
    # sales without a person get their contact resolved first (see workers.customers)
    commands = customers.deal_commands(batch, crm, batch.live())
    live = [c for c in batch.live() if c.id in commands]
    records = ctx.idmap.get_many(cmd.external_id for cmd in commands.values())
    to_send: list[tuple[Claimed, UpsertDeal, Record]] = []
    for claimed in live:
        command = commands[claimed.id]
        record = records[command.external_id]
        assert claimed.entry is not None
        if record.supersedes(command):
            batch.done(claimed)
        elif record.deal_id and not claimed.entry.create:
            batch.follow_up(claimed, Entry(command=command, deal_id=record.deal_id))
        else:
            to_send.append((claimed, command, record))
    if not to_send:
        return

    ctx.idmap.note_attempts((command, record) for _, command, record in to_send)
    request = BulkDealsRequest(
        deals=[bulk_row(command) for _, command, _ in to_send], skip_if_exists=True
    )
    try:
        response = crm.create_deals_bulk(request)
    except LimiterTimeout as exc:
        for claimed, _, _ in to_send:
            batch.later(claimed, exc.wait)
        return
    except CrmError as exc:
        batch.request_failed([claimed for claimed, _, _ in to_send], exc)
        return
    record_crm_success(ctx.redis)

    rows = _rows_by_index(response.results)
    writes = ctx.idmap.writes()
    for index, (claimed, command, record) in enumerate(to_send):
        row = rows.get(index)
        if row is None:
            batch.transient(claimed, "the bulk answer has no row for this deal", alone=True)
        elif not row.success or not row.deal_id:
            batch.row_failed(claimed, row.error)
        elif row.skipped and not record.created_by(command):
            # it existed already, or another create may have made it: record what we
            # learned, then bring it up to this command (the newest sent, see idmap)
            writes.record(command.external_id, deal_id=row.deal_id, contact_id=row.contact_id)
            entry = Entry(
                command=command,
                deal_id=row.deal_id,
                contact_id=row.contact_id,
                origin=claimed.entry.origin if claimed.entry else None,
            )
            batch.follow_up(claimed, entry)
        else:
            writes.record(
                command.external_id,
                deal_id=row.deal_id,
                contact_id=row.contact_id,
                applied=command,
                previous=record,
            )
            batch.done(claimed)
    writes.flush()



def _rows_by_index(results: list[DealRowResult]) -> dict[int, DealRowResult]:
    return {row.index: row for row in results}
