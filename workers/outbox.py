"""The outbox: CRM commands waiting for a request slot, durable in Redis.

One queue per kind of request (`Kind`). Each queue is

- `ready`  sorted set, entry id -> when it may be sent (ms, Redis time)
- `leased` sorted set, entry id -> when its claim expires (ms)
- `owner`  hash, entry id -> the token of the claim holding it
- `items`  hash, entry id -> the entry (JSON)
- `meta`   hash, entry id -> {"l": lock keys, "s": send alone, "r": is a retry}
- `reclaims` hash, entry id -> how many claims of it expired (a worker died holding it)

and two hashes shared by all kinds: `locks`, lock key (an external id, a contact) ->
the claim token holding it and until when; `waiting`, "{kind}|{external id}" -> the
entry of that record that waits unclaimed, into which the next command for the record
is merged (`workers.coalesce`), so one record has one waiting command, in its newest
state. A claim frees the slot (a later command starts a new entry); a retry takes it
back when it is free. The merge itself is done in Python and written by a script that
first checks the waiting entry is still the one that was read (compare-and-set): a
claim or another add in between makes the add read again.

Every change is one Lua script (`workers.outbox_scripts`), so a claim, a merge,
an acknowledgement or a retry is atomic, and a worker killed at any moment leaves
its entries leased until the lease expires, when the next claim takes them back.

A claim takes every entry that is due, up to the kind's cap, skipping entries whose
lock keys another claim holds (two requests never race for one deal or contact). A
part-full batch is only taken once its oldest entry has waited `linger`, so that
under a burst every request is full and a lone entry still leaves within `linger`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import redis
from pydantic import BaseModel, ConfigDict

from adapter import metrics
from adapter.crm.commands import (
    AnyCommand,
    Command,
    CompleteContact,
    CreateLead,
    RedactContact,
    UpdateDeal,
    UpsertContact,
    UpsertCustomerDeal,
    UpsertDeal,
)
from adapter.crm.models import MAX_BULK_CONTACTS, MAX_BULK_DEALS, MAX_BULK_LEADS
from workers import outbox_scripts as scripts
from workers.coalesce import mergeable, try_merge

PREFIX = "outbox"
LOCKS_KEY = f"{PREFIX}:locks"
WAITING_KEY = f"{PREFIX}:waiting"
# an add retries this often when claims keep taking the entry it merges into
MERGE_ATTEMPTS = 50
SEQ_KEY = f"{PREFIX}:seq"


class Kind(StrEnum):
    """One queue per kind of CRM request."""

    # every deal command: creates (/create-deals-bulk) and updates (PATCH, grouped);
    # one kind, so that a create and its updates for one order merge while they wait
    DEALS = "deals"
    CONTACTS = "contacts"  # /import-contacts-bulk
    LEADS = "leads"  # /create-lead, /create-leads-bulk
    CHANGES = "changes"  # redactions, one at a time


CAPS: dict[Kind, int] = {
    Kind.DEALS: MAX_BULK_DEALS,
    Kind.CONTACTS: MAX_BULK_CONTACTS,
    Kind.LEADS: MAX_BULK_LEADS,
    Kind.CHANGES: 1,
}


class Entry(BaseModel):
    """A command on its way, with what we learned about it so far."""

    model_config = ConfigDict(extra="forbid")

    command: Command
    # the CRM deal this command changes, once known
    deal_id: str | None = None
    contact_id: str | None = None
    # send as a create even if the id map knows a deal (it was deleted in the CRM)
    create: bool = False
    attempts: int = 0
    first_failure_at: float | None = None
    last_error: str | None = None
    # the delivery it came from, for dead letters and logs
    origin: str | None = None
    # when that delivery reached us: the delivery latency runs from here
    received_at: datetime | None = None

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


def kind_of(entry: Entry) -> Kind:
    command = entry.command
    if isinstance(command, UpsertDeal | UpdateDeal | UpsertCustomerDeal):
        return Kind.DEALS
    if isinstance(command, UpsertContact | CompleteContact):
        return Kind.CONTACTS
    if isinstance(command, CreateLead):
        return Kind.LEADS
    if isinstance(command, RedactContact):
        return Kind.CHANGES
    raise ValueError(f"{command.kind} is not sent to the CRM")


def _contact_key(value: str) -> str:
    # personal data never appears in Redis key names: a hash of it does
    return "c:" + hashlib.sha256(value.strip().lower().encode()).hexdigest()[:20]


def lock_keys(command: AnyCommand) -> list[str]:
    """What one request at a time may touch: the external id, and the contact."""
    keys = ["x:" + command.external_id]
    values: list[str | None] = []
    if isinstance(command, UpsertDeal):
        deal = command.deal
        values = [deal.contact_email, deal.contact_phone, str(deal.contact_id or "") or None]
    elif isinstance(command, CreateLead | UpsertContact):
        contact = command.lead.contact if isinstance(command, CreateLead) else command.contact
        values = [*(contact.emails or []), *(contact.phones or [])]
    elif isinstance(command, RedactContact | CompleteContact):
        values = [*command.emails, *command.phones]
    keys.extend(_contact_key(v) for v in values if v)
    return list(dict.fromkeys(keys))


_C = TypeVar("_C")


@dataclass(frozen=True)
class Claimed:
    id: str
    entry: Entry | None  # None: the entry vanished (acknowledged by an earlier holder)
    reclaims: int
    lock_keys: list[str]

    def command_as(self, kind: type[_C]) -> _C:
        """The claimed command, which a sender of one kind knows to be of its type."""
        command = self.entry.command if self.entry is not None else None
        if not isinstance(command, kind):
            raise TypeError(f"outbox entry {self.id} holds {type(command).__name__}")
        return command


@dataclass
class Claim:
    """Entries leased to one holder until `lease_until` (ms, Redis time)."""

    kind: Kind
    token: str
    lease_until: int
    entries: list[Claimed]

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.entries]

    @property
    def lock_keys(self) -> list[str]:
        return list(dict.fromkeys(k for c in self.entries for k in c.lock_keys))


@dataclass(frozen=True)
class Wait:
    """Nothing to take now: look again in `seconds`, or None when the queue is empty."""

    seconds: float | None


@dataclass
class Settlement:
    """What became of a claim's entries: acknowledged, or back in the queue later."""

    acked: list[str] = field(default_factory=list)
    retried: list[tuple[str, float, Entry, bool]] = field(default_factory=list)

    def ack(self, entry_id: str) -> None:
        self.acked.append(entry_id)

    def retry(self, entry_id: str, delay: float, entry: Entry, alone: bool = False) -> None:
        self.retried.append((entry_id, delay, entry, alone))


@dataclass(frozen=True)
class Backlog:
    due: int  # may be claimed now
    expired: int  # leased by a holder whose lease ran out
    total: int  # everything in the queue
    next_in: float | None  # seconds until something becomes due, None when empty


def _keys(kind: Kind, ns: str = "") -> list[str]:
    """The keys of one queue; `ns` is a tenant's namespace ('' for the default tenant)."""
    base = f"{ns}{PREFIX}:{kind.value}"
    return [
        f"{base}:ready",
        f"{base}:leased",
        f"{base}:owner",
        f"{base}:items",
        f"{base}:meta",
        f"{base}:reclaims",
        ns + LOCKS_KEY,
    ]


class OutboxBusy(Exception):
    """An add found the entry it merges into changed every time it tried."""


def slot_of(kind: Kind, command: AnyCommand) -> str:
    """The waiting slot of a command's record, or '' for commands that never merge."""
    return f"{kind.value}|{command.external_id}" if mergeable(command) else ""


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a is not None and b is not None else (a or b)


def merged_entry(waiting: Entry, new: Entry) -> Entry | None:
    """The waiting entry with `new`'s command merged in, or None if they do not merge."""
    command = try_merge(waiting.command, new.command)
    if command is None:
        return None
    return waiting.model_copy(
        update={
            "command": command,
            "deal_id": waiting.deal_id or new.deal_id,
            "contact_id": waiting.contact_id or new.contact_id,
            # the delivery latency runs from the first webhook the command carries
            "received_at": _earliest(waiting.received_at, new.received_at),
            "origin": waiting.origin or new.origin,
        }
    )


def _meta(command: AnyCommand, slot: str) -> str:
    meta: dict[str, Any] = {"l": lock_keys(command)}
    if slot:
        meta["x"] = slot
    return json.dumps(meta)


class Outbox:
    """The queues of every kind, on one Redis (a `decode_responses=True` client). Each
    tenant has its own, its keys prefixed with its namespace `ns`."""

    def __init__(self, connection: redis.Redis, scan: int = 400, ns: str = "") -> None:
        self.redis = connection
        self.scan = scan
        self.ns = ns
        self.waiting_key = ns + WAITING_KEY
        self.seq_key = ns + SEQ_KEY
        self._add = connection.register_script(scripts.ADD)
        self._claim = connection.register_script(scripts.CLAIM)
        self._settle = connection.register_script(scripts.SETTLE)
        self._touch = connection.register_script(scripts.TOUCH)
        self._due = connection.register_script(scripts.DUE)

    def add(
        self,
        entries: Sequence[Entry],
        *,
        ids: Sequence[str] | None = None,
        once_key: str | None = None,
        once_ttl: float = 7 * 24 * 3600,
        delay: float = 0.0,
    ) -> list[str] | None:
        """Queue entries atomically; their ids. With `once_key`, None if it was used before.

        A command for a record that has a command waiting (unclaimed) is merged into
        it (`workers.coalesce`); its id is then the waiting entry's. An entry given an
        id that is already queued keeps its place and is replaced, so that a step
        replayed after a crash queues its follow-up once (such entries never merge).
        """
        for _ in range(MERGE_ATTEMPTS):
            rows, keys, merges = self._plan(entries, ids, delay)
            once = str(int(once_ttl * 1000)) if once_key else ""
            keys[1] = once_key or f"{self.ns}{PREFIX}:none"
            result = self._add(keys=keys, args=[once, json.dumps(rows)])
            if result == -1:
                return None
            if result == -2:
                continue
            metrics.writes_avoided("coalesced", merges)
            return [str(i) for i in result]
        raise OutboxBusy("the waiting entries kept changing while adding to them")

    def _plan(
        self, entries: Sequence[Entry], ids: Sequence[str] | None, delay: float
    ) -> tuple[list[list[Any]], list[str], int]:
        """The rows of one add: new entries, or merges into the waiting ones read now."""
        kinds: list[Kind] = []
        planned: list[tuple[Kind, Entry, str, str]] = []  # kind, entry, given id, slot
        by_slot: dict[str, int] = {}
        merges = 0
        for n, entry in enumerate(entries):
            kind = kind_of(entry)
            given = ids[n] if ids else ""
            slot = slot_of(kind, entry.command)
            if slot and not given and slot in by_slot:
                # two commands for one record in one add: one entry
                at = by_slot[slot]
                merged = merged_entry(planned[at][1], entry)
                if merged is not None:
                    planned[at] = (kind, merged, "", slot)
                    merges += 1
                    continue
            if slot and not given:
                by_slot[slot] = len(planned)
            planned.append((kind, entry, given, slot))
            if kind not in kinds:
                kinds.append(kind)
        slots = [slot for _, _, given, slot in planned if slot and not given]
        waiting_ids: dict[str, str | None] = {}
        if slots:
            found_ids = self.redis.hmget(self.waiting_key, slots)
            waiting_ids = {s: str(i) if i else None for s, i in zip(slots, found_ids, strict=True)}
        waiting_items: dict[str, str | None] = {}
        wanted = [
            (kind, str(waiting_ids[slot]))
            for kind, _, given, slot in planned
            if slot and not given and waiting_ids.get(slot)
        ]
        if wanted:
            with self.redis.pipeline(transaction=False) as pipe:
                for kind, entry_id in wanted:
                    pipe.hget(_keys(kind, self.ns)[3], entry_id)
                found = pipe.execute()
            waiting_items = {str(i): raw for (_, i), raw in zip(wanted, found, strict=True)}
        rows: list[list[Any]] = []
        for kind, entry, given, slot in planned:
            index = kinds.index(kind) + 1
            target = waiting_ids.get(slot) if slot and not given else None
            raw = waiting_items.get(str(target)) if target else None
            if target and raw:
                merged = merged_entry(Entry.model_validate_json(raw), entry)
                if merged is not None:
                    meta = _meta(merged.command, slot)
                    rows.append([index, str(target), merged.to_json(), meta, 0, slot, raw])
                    merges += 1
                    continue
            meta = _meta(entry.command, slot)
            rows.append([index, given, entry.to_json(), meta, int(delay * 1000), slot, ""])
        keys = [self.seq_key, "", self.waiting_key]
        for kind in kinds:
            k = _keys(kind, self.ns)
            keys.extend([k[0], k[1], k[3], k[4]])
        return rows, keys, merges

    def claim(
        self, kind: Kind, *, linger: float, lease: float, cap: int | None = None
    ) -> Claim | Wait:
        token = uuid.uuid4().hex
        args: list[str | int] = [
            cap or CAPS[kind],
            int(linger * 1000),
            int(lease * 1000),
            token,
            self.scan,
        ]
        result = self._claim(keys=[*_keys(kind, self.ns), self.waiting_key], args=args)
        if int(result[0]) == 0:
            wait = int(result[1])
            return Wait(None if wait < 0 else wait / 1000)
        entries: list[Claimed] = []
        rest = result[2:]
        for n in range(0, len(rest), 4):
            raw, reclaims, keys = rest[n + 1], int(rest[n + 2]), json.loads(rest[n + 3])
            entry = Entry.model_validate_json(raw) if raw else None
            locks = keys if isinstance(keys, list) else []
            entries.append(Claimed(rest[n], entry, reclaims, locks))
        return Claim(kind, token, int(result[1]), entries)

    def settle(self, claim: Claim, settlement: Settlement) -> int:
        """Acknowledge and requeue as decided, then free the claim's locks."""
        retries = [
            [entry_id, int(delay * 1000), entry.to_json(), 1 if alone else 0]
            for entry_id, delay, entry, alone in settlement.retried
        ]
        args: list[str | int] = [
            claim.token,
            json.dumps(settlement.acked),
            json.dumps(retries),
            json.dumps(claim.lock_keys),
        ]
        return int(self._settle(keys=[*_keys(claim.kind, self.ns), self.waiting_key], args=args))

    def touch(self, claim: Claim, lease: float) -> int:
        """Extend the claim's lease; how many of its entries it still holds."""
        k = _keys(claim.kind, self.ns)
        args: list[str | int] = [
            claim.token,
            int(lease * 1000),
            json.dumps(claim.ids),
            json.dumps(claim.lock_keys),
        ]
        held, exp = self._touch(keys=[k[1], k[2], k[6]], args=args)
        claim.lease_until = int(exp)
        return int(held)

    def backlog(self, kind: Kind) -> Backlog:
        k = _keys(kind, self.ns)
        due, expired, total, nxt = self._due(keys=[k[0], k[1]])
        return Backlog(int(due), int(expired), int(total), None if int(nxt) < 0 else nxt / 1000)

    def size(self, kinds: Iterable[Kind] = tuple(Kind)) -> int:
        return sum(self.backlog(kind).total for kind in kinds)

    def leased_and_oldest(self, kind: Kind) -> tuple[int, float | None]:
        """How many entries of `kind` are leased, and when the oldest waiting one became
        due (ms, Redis time; None when none waits), for inspection."""
        ready_key, leased_key = _keys(kind, self.ns)[:2]
        oldest = self.redis.zrange(ready_key, 0, 0, withscores=True)
        return int(self.redis.zcard(leased_key)), float(oldest[0][1]) if oldest else None

    def schedule(
        self, kind: Kind, entry_ids: Sequence[str]
    ) -> list[tuple[float | None, float | None]]:
        """For each entry: when it may be sent and when its lease ends (ms, Redis time;
        None where it is not waiting, or not leased), for inspection."""
        ready_key, leased_key = _keys(kind, self.ns)[:2]
        with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.zscore(ready_key, entry_id)
                pipe.zscore(leased_key, entry_id)
            scores: list[Any] = pipe.execute()
        return [(scores[2 * n], scores[2 * n + 1]) for n in range(len(entry_ids))]

    def entries(self, kind: Kind) -> list[tuple[str, Entry]]:
        """Everything queued or leased in `kind`, for inspection."""
        found: list[tuple[str, Entry]] = []
        for entry_id, raw in self.redis.hgetall(_keys(kind, self.ns)[3]).items():
            found.append((str(entry_id), Entry.model_validate_json(raw)))
        return sorted(found)
