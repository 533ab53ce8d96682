"""CONTACTS: UpsertContact commands, up to 500 in an /import-contacts-bulk.

The CRM matches each row on email, then phone, and merges into the contact it finds,
so resending a row creates nothing new, and a new contact is created by the same
request. An upsert older than the last one applied for its external id is skipped.

Repeated `customers/update` and `customer.updated` merge while they wait
(`workers.coalesce`); one that would change nothing is not sent: we keep what we last
sent for the contact, merged as the CRM merges it (`workers.snapshots`), and an upsert
that leaves it unchanged is a no-op.
"""

from __future__ import annotations

from typing import Any

from adapter import metrics
from adapter.crm.client import CrmClient
from adapter.crm.commands import UpsertContact
from adapter.crm.errors import CrmError
from adapter.crm.models import BulkContactsRequest, ContactRowResult
from workers import customers
from workers.batch import Batch
from workers.coalesce import merge_fields
from workers.outbox import Claimed
from workers.ratelimit import LimiterTimeout
from workers.snapshots import plain
from workers.status import record_crm_success


def send_contacts(batch: Batch, crm: CrmClient) -> None:
    ctx = batch.ctx
    # stubs without email or phone, and completions, go their own way (workers.customers)
    live = customers.contacts_apart(batch, crm, batch.live())
    commands = {c.id: c.command_as(UpsertContact) for c in live}
    records = ctx.idmap.get_many(cmd.external_id for cmd in commands.values())
    snapshots = ctx.snapshots
    sent = snapshots.contacts(cmd.external_id for cmd in commands.values())
    to_send: list[tuple[Claimed, UpsertContact]] = []
    after: dict[str, dict[str, Any]] = {}
    noops = 0
    for claimed in live:
        command = commands[claimed.id]
        if records[command.external_id].supersedes(command):
            batch.done(claimed)
            continue
        before = sent.get(command.external_id)
        state = plain(merge_fields(before or {}, command.contact.model_dump(exclude_none=True)))
        if before is not None and state == before:
            noops += 1
            ctx.idmap.record(
                command.external_id, applied=command, previous=records[command.external_id]
            )
            batch.done(claimed)
            continue
        after[command.external_id] = state
        to_send.append((claimed, command))
    metrics.writes_avoided("noop", noops)
    if not to_send:
        return

    ctx.idmap.note_attempts(
        ((command, records[command.external_id]) for _, command in to_send), create=False
    )
    request = BulkContactsRequest(contacts=[command.contact for _, command in to_send])
    try:
        response = crm.import_contacts_bulk(request)
    except LimiterTimeout as exc:
        for claimed, _ in to_send:
            batch.later(claimed, exc.wait)
        return
    except CrmError as exc:
        batch.request_failed([claimed for claimed, _ in to_send], exc)
        return
    record_crm_success(ctx.redis, ctx.ns)

    rows: dict[int, ContactRowResult] = {row.index: row for row in response.results}
    writes = ctx.idmap.writes()
    states: list[tuple[str, dict[str, Any]]] = []
    for index, (claimed, command) in enumerate(to_send):
        row = rows.get(index)
        if row is None:
            batch.transient(claimed, "the bulk answer has no row for this contact", alone=True)
        elif not row.success or not row.contact_id:
            batch.row_failed(claimed, row.error)
        else:
            writes.record(
                command.external_id,
                contact_id=row.contact_id,
                applied=command,
                previous=records[command.external_id],
            )
            batch.done(claimed)
            states.append((command.external_id, after[command.external_id]))
    writes.flush()
    snapshots.put_contacts(states)
