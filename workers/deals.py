"""DEALS: every deal command. Creates go 100 to a /create-deals-bulk; updates are
PATCHes built without reading the deal, guarded, and grouped when identical.

Creates. Every row carries `skip_if_exists` and its deterministic title, so a resend
after a lost answer creates nothing twice: the CRM reports the row as skipped with
the existing deal's id. A skipped row is then either the deal our own earlier attempt
of this same command created (the id map's attempts say so: nothing more to do), or a
deal in another state, which is then PATCHed to this command — the newest ever sent
for its external id, since older ones are skipped before sending. After a bulk create
one GET (`id=in.(…)`) learns the new deals' state and `updated_at`, so that their
updates need no GET of their own.

Updates. For each deal we keep the state the CRM last showed us (`workers.snapshots`).
The PATCH is the command applied to that state — only the fields that differ; tags
added to the deal's own; custom_fields merged, the command's keys winning — so:

- nothing differs: nothing is sent (a no-op, counted);
- only plain columns differ (stage, value, currency, …): nothing a person added can be
  lost, since a PATCH leaves other columns alone; deals getting the same change go out
  as one `PATCH /deals?id=in.(…)` (at most `MAX_IDS_PER_REQUEST` ids: a URL of ~4 KB,
  well under the 8 KB request line that common proxies and servers accept);
- custom_fields or tags differ: those are replaced whole by a PATCH (§2.1.3, §4), so
  the PATCH is guarded, `id=eq.<id>&updated_at=eq.<the time of our state>`: it writes
  only if nobody changed the deal since. When it matches no row, the deal is read,
  the command applied to what it holds now, and written under the new guard (read-
  merge-write), so a person's edit survives.

What custom_fields hold. The document leaves us no way to change one key of
custom_fields, so a transition that changes a key is one PATCH per deal. The grouped
path is for transitions that change columns only. The mapping keeps an order's
payment and fulfilment status in custom_fields (visible as fields in the CRM), so a
Shopify `orders/paid` or `orders/fulfilled` is one guarded PATCH per deal (one request,
never two), and under a backlog it is merged into the waiting create or update
(`workers.coalesce`) and costs nothing of its own. See docs/delivery.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapter import metrics
from adapter.crm.client import CrmClient, in_list
from adapter.crm.commands import UpdateDeal, UpsertDeal
from adapter.crm.errors import CrmError
from adapter.crm.models import BulkDeal, BulkDealsRequest, DealRecord, DealRowResult, DealUpdate
from workers import customers
from workers.batch import Batch
from workers.idmap import Record
from workers.outbox import Claimed, Entry
from workers.ratelimit import LimiterTimeout
from workers.snapshots import DealState, Snapshots, plain
from workers.status import record_crm_success

log = logging.getLogger(__name__)

# what an upsert changes on a deal that exists
UPSERT_FIELDS = ("stage", "value", "currency", "tags", "custom_fields")
# fields replaced whole by a PATCH: changing them needs the guard
WHOLE_FIELDS = ("tags", "custom_fields")
# ids in one `id=in.(…)`: 100 uuids quoted are ~4 KB of URL
MAX_IDS_PER_REQUEST = 100
# a guarded PATCH that keeps missing (the deal is being edited) goes back after this many
GUARD_TRIES = 2

DealCommand = UpsertDeal | UpdateDeal


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


def wanted_fields(command: DealCommand) -> dict[str, Any]:
    """What the command sets on a deal that exists (None: leaves alone)."""
    if isinstance(command, UpsertDeal):
        deal = command.deal
        return {n: getattr(deal, n) for n in UPSERT_FIELDS if getattr(deal, n) is not None}
    changes = command.changes
    return {
        n: value for n in changes.model_fields_set if (value := getattr(changes, n)) is not None
    }


def changes_for(state: dict[str, Any], fields: dict[str, Any], external_id: str) -> dict[str, Any]:
    """The PATCH bringing a deal in `state` to `fields`: only what differs; tags added to
    the deal's own, custom_fields merged into the deal's (the command's keys win)."""
    current_custom = state.get("custom_fields") or {}
    out: dict[str, Any] = {}
    for name, value in plain(fields).items():
        if name == "tags":
            value = list(dict.fromkeys([*(state.get("tags") or []), *value]))
        elif name == "custom_fields":
            value = with_external_id({**current_custom, **value}, external_id)
        if value != state.get(name):
            out[name] = value
    if "custom_fields" not in out and not current_custom.get("external_id"):
        out["custom_fields"] = with_external_id(current_custom, external_id)
    return out


def _key(changes: dict[str, Any]) -> str:
    return json.dumps(changes, sort_keys=True, default=str)


def _update_body(changes: dict[str, Any]) -> DealUpdate:
    # not validated again: our part was validated as a command, and the CRM's own keys
    # go back as the CRM holds them, even where our stricter contract would refuse them
    return DealUpdate.model_construct(**changes)


@dataclass
class Update:
    """A deal to bring up to a command."""

    claimed: Claimed
    command: DealCommand
    deal_id: str
    record: Record
    state: DealState | None


def send_deals(batch: Batch, crm: CrmClient) -> None:
    ctx = batch.ctx
    snapshots = ctx.snapshots
    # sales without a person get their contact resolved first (see workers.customers)
    commands = customers.deal_commands(batch, crm, batch.live())
    live = [c for c in batch.live() if c.id in commands]
    external_ids = [cmd.external_id for cmd in commands.values()]
    records = ctx.idmap.get_many(external_ids)
    states = snapshots.deals(external_ids)
    creates: list[tuple[Claimed, UpsertDeal, Record]] = []
    updates: list[Update] = []
    for claimed in live:
        command = commands[claimed.id]
        record = records[command.external_id]
        assert claimed.entry is not None
        if record.supersedes(command):
            batch.done(claimed)
            continue
        deal_id = None if claimed.entry.create else (record.deal_id or claimed.entry.deal_id)
        if isinstance(command, UpsertDeal) and deal_id is None:
            creates.append((claimed, command, record))
        elif deal_id is None:
            _find_then_update(batch, crm, claimed, command, record, updates)
        else:
            state = states.get(command.external_id)
            usable = state if state is not None and state.deal_id == deal_id else None
            updates.append(Update(claimed, command, deal_id, record, usable))
    if creates:
        updates.extend(_create(batch, crm, creates, snapshots))
    if updates:
        _update(batch, crm, updates)


# --- creates -----------------------------------------------------------------------


def _create(
    batch: Batch,
    crm: CrmClient,
    to_send: list[tuple[Claimed, UpsertDeal, Record]],
    snapshots: Snapshots,
) -> list[Update]:
    """One bulk request; the deals it found existing in another state, to update."""
    ctx = batch.ctx
    ctx.idmap.note_attempts((command, record) for _, command, record in to_send)
    request = BulkDealsRequest(
        deals=[bulk_row(command) for _, command, _ in to_send], skip_if_exists=True
    )
    try:
        response = crm.create_deals_bulk(request)
    except LimiterTimeout as exc:
        for claimed, _, _ in to_send:
            batch.later(claimed, exc.wait)
        return []
    except CrmError as exc:
        batch.request_failed([claimed for claimed, _, _ in to_send], exc)
        return []
    record_crm_success(ctx.redis, ctx.ns)
    batch.keepalive()

    rows = _rows_by_index(response.results)
    writes = ctx.idmap.writes()
    follow: list[Update] = []
    created: dict[str, str] = {}  # deal id -> external id
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
            follow.append(Update(claimed, command, row.deal_id, record, None))
        else:
            writes.record(
                command.external_id,
                deal_id=row.deal_id,
                contact_id=row.contact_id,
                applied=command,
                previous=record,
            )
            created[row.deal_id] = command.external_id
            batch.done(claimed)
    writes.flush()
    if created:
        # the new deals' state and updated_at, so that their updates need no GET; a
        # failure here costs only that GET later
        try:
            found = crm.get_deals(list(created))
        except (CrmError, LimiterTimeout) as exc:
            log.info("reading %d new deal(s) back failed: %s", len(created), exc)
        else:
            snapshots.put_deals((created[d.id], DealState.of(d)) for d in found if d.id in created)
            batch.keepalive()
    return follow


# --- updates -----------------------------------------------------------------------


def _find_then_update(
    batch: Batch,
    crm: CrmClient,
    claimed: Claimed,
    command: DealCommand,
    record: Record,
    updates: list[Update],
) -> None:
    """An UpdateDeal for a deal the id map does not know: look it up by external id."""
    try:
        found = crm.find_deals_by_external_id(command.external_id, limit=1)
    except LimiterTimeout as exc:
        batch.later(claimed, exc.wait)
        return
    except CrmError as exc:
        batch.request_failed([claimed], exc)
        return
    batch.keepalive()
    if not found:
        _missing(batch, claimed, command, known=False)
        return
    batch.ctx.idmap.record(command.external_id, deal_id=found[0].id)
    updates.append(Update(claimed, command, found[0].id, record, DealState.of(found[0])))


def _missing(batch: Batch, claimed: Claimed, command: DealCommand, *, known: bool) -> None:
    """The deal is not in the CRM: an upsert creates it again; a partial change waits
    for its create, within a bound."""
    ctx = batch.ctx
    if known:
        ctx.idmap.forget_deal(command.external_id)
    origin = claimed.entry.origin if claimed.entry else None
    if isinstance(command, UpsertDeal):
        batch.follow_up(claimed, Entry(command=command, create=True, origin=origin))
        return
    batch.transient(
        claimed,
        f"no deal with external id {command.external_id} yet",
        give_up_after=ctx.options.missing_deal_grace,
    )


def _update(batch: Batch, crm: CrmClient, updates: list[Update]) -> None:
    ctx = batch.ctx
    unread = [u for u in updates if u.state is None]
    if unread and not _read_states(batch, crm, unread):
        return
    groups: dict[str, tuple[dict[str, Any], list[Update]]] = {}
    guarded: list[tuple[Update, dict[str, Any]]] = []
    noops: list[Update] = []
    for update in updates:
        if batch.is_decided(update.claimed):
            continue
        assert update.state is not None
        changes = changes_for(
            update.state.fields, wanted_fields(update.command), update.command.external_id
        )
        if not changes:
            noops.append(update)
        elif any(name in changes for name in WHOLE_FIELDS):
            guarded.append((update, changes))
        else:
            groups.setdefault(_key(changes), (changes, []))[1].append(update)
    if noops:
        metrics.writes_avoided("noop", len(noops))
        _applied(batch, noops, {})
    ctx.idmap.note_attempts(
        (
            (u.command, u.record)
            for u in _undecided(batch, updates)
            if isinstance(u.command, UpsertDeal)
        ),
        create=False,
    )
    for changes, members in groups.values():
        for start in range(0, len(members), MAX_IDS_PER_REQUEST):
            _send_group(batch, crm, changes, members[start : start + MAX_IDS_PER_REQUEST])
    for update, changes in guarded:
        _send_guarded(batch, crm, update, changes)


def _read_states(batch: Batch, crm: CrmClient, unread: list[Update]) -> bool:
    """Read the deals we hold no state of (one GET for up to 100); False: stop here."""
    try:
        found: dict[str, DealRecord] = {}
        for start in range(0, len(unread), MAX_IDS_PER_REQUEST):
            chunk = unread[start : start + MAX_IDS_PER_REQUEST]
            found.update((d.id, d) for d in crm.get_deals([u.deal_id for u in chunk]))
            batch.keepalive()
    except LimiterTimeout as exc:
        for update in _undecided(batch, unread):
            batch.later(update.claimed, exc.wait)
        return False
    except CrmError as exc:
        batch.request_failed([u.claimed for u in _undecided(batch, unread)], exc)
        return False
    for update in unread:
        record = found.get(update.deal_id)
        if record is None:
            _missing(batch, update.claimed, update.command, known=True)
        else:
            update.state = DealState.of(record)
    return True


def _undecided(batch: Batch, updates: Sequence[Update]) -> list[Update]:
    return [u for u in updates if not batch.is_decided(u.claimed)]


def _send_group(
    batch: Batch, crm: CrmClient, changes: dict[str, Any], members: list[Update]
) -> None:
    """One PATCH for every deal getting the same column changes."""
    ids = [u.deal_id for u in members]
    filters = {"id": in_list(ids)}
    rows = _patch(batch, crm, filters, changes, members)
    if rows is None:
        return
    if len(members) > 1:
        metrics.writes_avoided("grouped", len(members) - 1)
    metrics.writes_avoided("no_read", len(members))
    by_id = {row.id: row for row in rows}
    for update in members:
        if update.deal_id not in by_id:
            _missing(batch, update.claimed, update.command, known=True)
    _applied(batch, [u for u in members if u.deal_id in by_id], by_id)


def _send_guarded(batch: Batch, crm: CrmClient, update: Update, changes: dict[str, Any]) -> None:
    """PATCH one deal only if it is as we last saw it; otherwise read, merge, write."""
    for attempt in range(GUARD_TRIES):
        assert update.state is not None
        filters = {"id": f"eq.{update.deal_id}"}
        if update.state.updated_at:
            filters["updated_at"] = f"eq.{update.state.updated_at}"
        rows = _patch(batch, crm, filters, changes, [update])
        if rows is None:
            return
        if rows:
            if attempt == 0:
                metrics.writes_avoided("no_read")
            _applied(batch, [update], {row.id: row for row in rows})
            return
        # someone changed the deal since we saw it (or deleted it): read it again
        metrics.guard_missed("deal")
        update.state = None
        if not _read_states(batch, crm, [update]) or batch.is_decided(update.claimed):
            return
        assert update.state is not None
        changes = changes_for(
            update.state.fields, wanted_fields(update.command), update.command.external_id
        )
        if not changes:
            metrics.writes_avoided("noop")
            _applied(batch, [update], {})
            return
    batch.transient(update.claimed, f"deal {update.deal_id} kept changing while we wrote it")


def _patch(
    batch: Batch,
    crm: CrmClient,
    filters: dict[str, str],
    changes: dict[str, Any],
    members: list[Update],
) -> list[DealRecord] | None:
    """PATCH by filter; the rows written, or None when the members were sent back."""
    try:
        rows = crm.update_deals_where(filters, _update_body(changes))
    except LimiterTimeout as exc:
        for update in members:
            batch.later(update.claimed, exc.wait)
        return None
    except CrmError as exc:
        batch.request_failed([u.claimed for u in members], exc)
        return None
    record_crm_success(batch.ctx.redis, batch.ctx.ns)
    batch.keepalive()
    return rows


def _applied(batch: Batch, updates: list[Update], rows: dict[str, DealRecord]) -> None:
    """The updates are in the CRM: the id map says so, the snapshots hold the new state."""
    ctx = batch.ctx
    writes = ctx.idmap.writes()
    states: list[tuple[str, DealState]] = []
    for update in updates:
        row = rows.get(update.deal_id)
        state = DealState.of(row) if row is not None else update.state
        contact_id = state.contact_id if state is not None else None
        writes.record(
            update.command.external_id,
            deal_id=update.deal_id,
            contact_id=contact_id,
            applied=update.command,
            previous=update.record,
        )
        if row is not None and state is not None:
            states.append((update.command.external_id, state))
        batch.done(update.claimed)
    writes.flush()
    if states:
        ctx.snapshots.put_deals(states)


def _rows_by_index(results: list[DealRowResult]) -> dict[int, DealRowResult]:
    return {row.index: row for row in results}
