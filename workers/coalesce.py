"""Merging the commands that wait for one external id into one.

While commands for one record wait in the outbox (not yet claimed), each new one is
merged into the waiting one, so a create followed by updates leaves as one create in
the final state, and ten updates as one. Merging gives what applying the commands
one by one, oldest first (by the source's `updated_at`), gives in the CRM:

- fields the newer command sets win; fields only the older one sets stay;
- tags are added, never removed (a PATCH adds our tags to the deal's own);
- custom_fields are merged key by key, the newer command's keys winning;
- an UpsertDeal absorbs an UpdateDeal (the result may still create the deal); two
  UpdateDeals give one UpdateDeal; contacts merge as /import-contacts-bulk merges
  (emails, phones and tags unioned, non-empty scalars of the newer row winning).

So an older command that arrives late never wins over a newer one: it is applied
first. Leads and redactions are never merged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter.crm.commands import AnyCommand, UpdateDeal, UpsertContact, UpsertDeal
from adapter.crm.models import BulkDeal, Contact, DealUpdate

MERGEABLE = (UpsertDeal, UpdateDeal, UpsertContact)

# list fields that only ever grow
_UNIONED = ("tags", "emails", "phones")


def mergeable(command: AnyCommand) -> bool:
    return isinstance(command, MERGEABLE)


def _when(command: AnyCommand) -> datetime | None:
    value = command.source_updated_at
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def in_order(first: AnyCommand, second: AnyCommand) -> tuple[AnyCommand, AnyCommand]:
    """(older, newer): by the source's updated_at; unknown or equal: arrival order."""
    a, b = _when(first), _when(second)
    if a is not None and b is not None and b < a:
        return second, first
    return first, second


def _union(older: list[Any] | None, newer: list[Any] | None) -> list[Any] | None:
    if older is None and newer is None:
        return None
    return list(dict.fromkeys([*(older or []), *(newer or [])]))


def merge_fields(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """Set fields of two bodies (None: not set) merged as applying them in turn does."""
    merged = {k: v for k, v in older.items() if v is not None}
    for name, value in newer.items():
        if value is None:
            continue
        if name in _UNIONED:
            merged[name] = _union(merged.get(name), value)
        elif name == "custom_fields":
            merged[name] = {**(merged.get(name) or {}), **value}
        else:
            merged[name] = value
    return merged


def _set_fields(command: UpsertDeal | UpdateDeal) -> dict[str, Any]:
    if isinstance(command, UpsertDeal):
        return {n: getattr(command.deal, n) for n in command.deal.model_fields_set}
    return {n: getattr(command.changes, n) for n in command.changes.model_fields_set}


def _newest_time(a: AnyCommand, b: AnyCommand) -> datetime | None:
    times = [t for t in (_when(a), _when(b)) if t is not None]
    return max(times) if times else None


def merge(first: AnyCommand, second: AnyCommand) -> AnyCommand:
    """One command equivalent to `first` then `second` (each placed by its updated_at).

    Raises ValueError for commands that do not merge (other kinds, other records, or a
    merged body the contract refuses, e.g. custom_fields grown past 32 KB)."""
    if first.external_id != second.external_id:
        raise ValueError("commands of different records do not merge")
    older, newer = in_order(first, second)
    when = _newest_time(older, newer)
    if isinstance(older, UpsertContact) and isinstance(newer, UpsertContact):
        fields = merge_fields(
            older.contact.model_dump(exclude_none=True), newer.contact.model_dump(exclude_none=True)
        )
        return UpsertContact(
            external_id=newer.external_id,
            source_updated_at=when,
            contact=Contact.model_validate(fields),
        )
    if isinstance(older, UpsertDeal | UpdateDeal) and isinstance(newer, UpsertDeal | UpdateDeal):
        fields = merge_fields(_set_fields(older), _set_fields(newer))
        if isinstance(older, UpdateDeal) and isinstance(newer, UpdateDeal):
            return UpdateDeal(
                external_id=newer.external_id,
                source_updated_at=when,
                changes=DealUpdate.model_validate(fields),
            )
        # an upsert (it may create the deal) absorbs the partial change
        base = newer if isinstance(newer, UpsertDeal) else older
        assert isinstance(base, UpsertDeal)
        create_only = {
            n: getattr(base.deal, n)
            for n in base.deal.model_fields_set
            if n not in DealUpdate.model_fields and getattr(base.deal, n) is not None
        }
        return UpsertDeal(
            external_id=newer.external_id,
            source_updated_at=when,
            deal=BulkDeal.model_validate({**fields, **create_only}),
        )
    raise ValueError(f"{first.kind} and {second.kind} do not merge")


def try_merge(first: AnyCommand, second: AnyCommand) -> AnyCommand | None:
    """`merge`, or None when the two do not merge."""
    if not (mergeable(first) and mergeable(second)):
        return None
    try:
        return merge(first, second)
    except ValueError:
        return None
