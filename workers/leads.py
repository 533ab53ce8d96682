"""LEADS: CreateLead commands, one /create-lead or up to 100 in a /create-leads-bulk.

The CRM creates a new contact and deal for every lead it is sent, so a lead is created
once by us: a lead whose external id has a deal in the id map is done; one whose
earlier attempt has no known outcome (its answer was lost) is first looked for in the
CRM by `custom_fields->>external_id`. The claim's lock on the external id makes the
look-up and the create one step.
"""

from __future__ import annotations

from adapter.crm.client import CrmClient
from adapter.crm.commands import CreateLead
from adapter.crm.errors import CrmError
from adapter.crm.models import BulkLeadsRequest, Lead, LeadResult
from workers.batch import Batch
from workers.deals import with_external_id
from workers.outbox import Claimed
from workers.ratelimit import LimiterTimeout
from workers.status import record_crm_success


def lead_body(command: CreateLead) -> Lead:
    deal = command.lead.deal
    fields = with_external_id(deal.custom_fields, command.external_id)
    deal = deal.model_copy(update={"custom_fields": fields})
    return command.lead.model_copy(update={"deal": deal})


def send_leads(batch: Batch, crm: CrmClient) -> None:
    ctx = batch.ctx
    live = batch.live()
    commands = {c.id: c.command_as(CreateLead) for c in live}
    records = ctx.idmap.get_many(cmd.external_id for cmd in commands.values())
    to_send: list[tuple[Claimed, CreateLead]] = []
    for claimed in live:
        command = commands[claimed.id]
        record = records[command.external_id]
        if record.deal_id:
            batch.done(claimed)
            continue
        if record.attempts:
            try:
                found = crm.find_deals_by_external_id(command.external_id, limit=1)
            except LimiterTimeout as exc:
                batch.later(claimed, exc.wait)
                continue
            except CrmError as exc:
                batch.request_failed([claimed], exc)
                continue
            batch.keepalive()
            if found:
                deal = found[0]
                ctx.idmap.record(
                    command.external_id,
                    deal_id=deal.id,
                    contact_id=deal.contact_id,
                    applied=command,
                    previous=record,
                )
                batch.done(claimed)
                continue
        to_send.append((claimed, command))
    if not to_send:
        return

    ctx.idmap.note_attempts((command, records[command.external_id]) for _, command in to_send)
    try:
        if len(to_send) == 1:
            results = [crm.create_lead(lead_body(to_send[0][1])).model_copy(update={"index": 0})]
        else:
            request = BulkLeadsRequest(leads=[lead_body(command) for _, command in to_send])
            results = crm.create_leads_bulk(request).results
    except LimiterTimeout as exc:
        for claimed, _ in to_send:
            batch.later(claimed, exc.wait)
        return
    except CrmError as exc:
        batch.request_failed([claimed for claimed, _ in to_send], exc)
        return
    record_crm_success(ctx.redis, ctx.ns)

    rows: dict[int, LeadResult] = {row.index: row for row in results if row.index is not None}
    writes = ctx.idmap.writes()
    for index, (claimed, command) in enumerate(to_send):
        row = rows.get(index)
        if row is None:
            batch.transient(claimed, "the answer has no result for this lead", alone=True)
        elif not row.success or not row.deal_id:
            batch.row_failed(claimed, row.error)
        else:
            writes.record(
                command.external_id,
                deal_id=row.deal_id,
                contact_id=row.contact_id,
                applied=command,
                previous=records[command.external_id],
            )
            batch.done(claimed)
    writes.flush()
