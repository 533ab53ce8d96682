"""What happened after mapping, read from the workers' stores: the outbox, the id map,
the dead letters, and the delivery events.

The one place the operator's views (`adapter.ops.trace`, `/status`) read
`workers.outbox` and `workers.idmap`: when their layout changes, only this module
follows. It reads the outbox through `Outbox.entries` and `Outbox.backlog`; the due
time of an entry (its next try) is the score of its queue's `ready` or `leased`
sorted set, which the outbox's public API does not give, so it is read here by key.
Error texts are masked as logs are (a CRM's error may quote the address it refused).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from adapter import events
from workers.deadletters import DeadLetter, DeadLetters
from workers.idmap import IdMap
from workers.outbox import Entry, Kind, Outbox

# beyond this many entries in the outbox, /status shows counts, not every entry's place
MAX_SCANNED_ENTRIES = 5000
MAX_SCANNED_LETTERS = 1000


@dataclass(frozen=True)
class Waiting:
    """A command in the outbox: waiting for its next try, or leased by a flush."""

    entry_id: str
    outbox: str
    command: str
    external_id: str
    origin: str | None
    attempts: int
    last_error: str | None
    leased: bool
    next_try_at: float | None  # when it may be sent (waiting), or its lease ends (leased)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "outbox": self.outbox,
            "command": self.command,
            "external_id": self.external_id,
            "state": "leased" if self.leased else "waiting",
            "attempts": self.attempts,
            "last_error": self.last_error,
            "next_try_at": self.next_try_at,
        }


@dataclass(frozen=True)
class CrmIds:
    deal_id: str | None
    contact_id: str | None


def _waiting(
    entry_id: str, kind: Kind, entry: Entry, ready: float | None, leased: float | None
) -> Waiting:
    due = leased if leased is not None else ready
    return Waiting(
        entry_id=entry_id,
        outbox=kind.value,
        command=entry.command.kind,
        external_id=entry.command.external_id,
        origin=entry.origin,
        attempts=entry.attempts,
        last_error=events.mask(entry.last_error, 500) if entry.last_error else None,
        leased=leased is not None,
        next_try_at=due / 1000 if due is not None else None,
    )


class Downstream:
    """Reads on a `decode_responses=True` client, over the outboxes and id maps of every
    tenant (`namespaces`: their key prefixes, '' for the default tenant)."""

    def __init__(self, connection: redis.Redis, namespaces: Sequence[str] = ("",)) -> None:
        self.redis = connection
        self.outboxes = [Outbox(connection, ns=ns) for ns in namespaces]
        self.idmaps = [IdMap(connection, ns=ns) for ns in namespaces]
        self.outbox = self.outboxes[0]
        self.idmap = self.idmaps[0]
        self.deadletters = DeadLetters(connection)

    def outbox_size(self) -> int:
        return sum(outbox.size() for outbox in self.outboxes)

    def waiting(self, origins: Iterable[str] | None = None) -> list[Waiting]:
        """Every outbox entry (of the deliveries `origins`, if given), soonest first;
        empty when the outbox holds more than `MAX_SCANNED_ENTRIES`."""
        wanted = set(origins) if origins is not None else None
        if self.outbox_size() > MAX_SCANNED_ENTRIES:
            return []
        found: list[Waiting] = []
        for outbox, kind in ((o, k) for o in self.outboxes for k in Kind):
            entries = [
                (entry_id, entry)
                for entry_id, entry in outbox.entries(kind)
                if wanted is None or entry.origin in wanted
            ]
            if not entries:
                continue
            times = outbox.schedule(kind, [entry_id for entry_id, _ in entries])
            for (entry_id, entry), (ready, leased) in zip(entries, times, strict=True):
                found.append(_waiting(entry_id, kind, entry, ready, leased))
        return sorted(found, key=lambda w: (w.next_try_at or 0.0, w.entry_id))

    def crm_ids(self, external_ids: Iterable[str]) -> dict[str, CrmIds]:
        """The CRM records known for these external ids (those with none left out)."""
        wanted = list(external_ids)
        found: dict[str, CrmIds] = {}
        # a store belongs to one tenant, so an external id has records in one id map
        for idmap in self.idmaps:
            for external_id, record in idmap.get_many(wanted).items():
                if (record.deal_id or record.contact_id) and external_id not in found:
                    found[external_id] = CrmIds(record.deal_id, record.contact_id)
        return found

    def command_letters(self, origins: Iterable[str]) -> list[DeadLetter]:
        """Dead-lettered commands of these deliveries (among the latest letters)."""
        wanted = set(origins)
        count = self.deadletters.count()
        offset = max(0, count - MAX_SCANNED_LETTERS)
        return [
            letter
            for letter in self.deadletters.listing(limit=MAX_SCANNED_LETTERS, offset=offset)
            if letter.kind == "command" and letter.origin in wanted
        ]

    def delivery_letter(self, delivery_id: str) -> DeadLetter | None:
        return self.deadletters.get(f"dlv-{delivery_id}")

    def drop_delivery_letter(self, delivery_id: str) -> bool:
        """A replayed delivery mapped after all: its dead letter is done with."""
        return self.deadletters.drop(f"dlv-{delivery_id}")

    def done(self, delivery_id: str) -> dict[str, events.Done]:
        return events.done(self.redis, delivery_id)
