"""The outbox: CRM commands waiting for a request slot, durable in Redis.

One queue per kind of request (`Kind`). Each queue is

- `ready`  sorted set, entry id -> when it may be sent (ms, Redis time)
- `leased` sorted set, entry id -> when its claim expires (ms)
- `owner`  hash, entry id -> the token of the claim holding it
- `items`  hash, entry id -> the entry (JSON)
- `meta`   hash, entry id -> {"l": lock keys, "s": send alone, "r": is a retry}
- `reclaims` hash, entry id -> how many claims of it expired (a worker died holding it)

and one `locks` hash shared by all kinds: lock key (an external id, a contact) -> the
claim token holding it and until when. Every change is one Lua script, so a claim,
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

PREFIX = "outbox"
LOCKS_KEY = f"{PREFIX}:locks"
SEQ_KEY = f"{PREFIX}:seq"


class Kind(StrEnum):
    """One queue per kind of CRM request."""

    DEALS = "deals"  # /create-deals-bulk
    CONTACTS = "contacts"  # /import-contacts-bulk
    LEADS = "leads"  # /create-lead, /create-leads-bulk
    CHANGES = "changes"  # one deal or contact at a time: GET, PATCH


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
    # the CRM deal this command changes, once known: it then goes to CHANGES
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
    if isinstance(command, UpsertDeal):
        return Kind.CHANGES if entry.deal_id and not entry.create else Kind.DEALS
    if isinstance(command, UpsertCustomerDeal):
        return Kind.DEALS
    if isinstance(command, UpsertContact | CompleteContact):
        return Kind.CONTACTS
    if isinstance(command, CreateLead):
        return Kind.LEADS
    if isinstance(command, UpdateDeal | RedactContact):
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


_ADD = """
if ARGV[1] ~= '' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = {}
for _, e in ipairs(cjson.decode(ARGV[2])) do
  local base = 2 + (e[1] - 1) * 4
  local id = e[2]
  if id == '' then id = string.format('%014d', redis.call('INCR', KEYS[1])) end
  if not redis.call('ZSCORE', KEYS[base + 2], id) then
    redis.call('HSET', KEYS[base + 3], id, e[3])
    redis.call('HSET', KEYS[base + 4], id, e[4])
    redis.call('ZADD', KEYS[base + 1], 'NX', now + e[5], id)
  end
  table.insert(ids, id)
end
return ids
"""

# KEYS: ready leased owner items meta reclaims locks
# ARGV: cap linger_ms lease_ms token scan
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, linger, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local token, scan = ARGV[4], tonumber(ARGV[5])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HINCRBY', KEYS[6], id, 1)
  local meta = cjson.decode(redis.call('HGET', KEYS[5], id) or '{}')
  meta['r'] = 1
  redis.call('HSET', KEYS[5], id, cjson.encode(meta))
  redis.call('ZADD', KEYS[1], now, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, scan)
local taken, metas, held = {}, {}, {}
local ready, blocked, oldest = false, false, nil
local i = 1
while i <= #due and #taken < cap do
  local id, score = due[i], tonumber(due[i + 1])
  local meta = cjson.decode(redis.call('HGET', KEYS[5], id) or '{}')
  local keys = meta['l'] or {}
  local free = true
  for _, k in ipairs(keys) do
    if not held[k] then
      local v = redis.call('HGET', KEYS[7], k)
      if v then
        local sep = string.find(v, ':', 1, true)
        if tonumber(string.sub(v, sep + 1)) > now and string.sub(v, 1, sep - 1) ~= token then
          free = false
          break
        end
      end
    end
  end
  if free and meta['s'] == 1 and #taken > 0 then free = false end
  if free then
    for _, k in ipairs(keys) do held[k] = true end
    table.insert(taken, id)
    table.insert(metas, keys)
    if oldest == nil or score < oldest then oldest = score end
    if meta['r'] == 1 or meta['s'] == 1 or now - score >= linger then ready = true end
    if meta['s'] == 1 then break end
  else
    blocked = true
  end
  i = i + 2
end
if #taken == 0 then
  local wait = -1
  if blocked then wait = 200 end
  local nxt = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #nxt > 0 then
    local w = tonumber(nxt[2]) - now
    if wait < 0 or w < wait then wait = w end
  end
  return {0, wait}
end
if #taken < cap and not ready then
  return {0, math.max(1, linger - (now - oldest))}
end
local exp = now + lease
local mark = token .. ':' .. exp
local lock_args, lease_args, owner_args = {}, {}, {}
for k, _ in pairs(held) do
  table.insert(lock_args, k)
  table.insert(lock_args, mark)
end
for _, id in ipairs(taken) do
  table.insert(lease_args, exp)
  table.insert(lease_args, id)
  table.insert(owner_args, id)
  table.insert(owner_args, token)
end
redis.call('HSET', KEYS[7], unpack(lock_args))
redis.call('ZREM', KEYS[1], unpack(taken))
redis.call('ZADD', KEYS[2], unpack(lease_args))
redis.call('HSET', KEYS[3], unpack(owner_args))
local items = redis.call('HMGET', KEYS[4], unpack(taken))
local reclaims = redis.call('HMGET', KEYS[6], unpack(taken))
local out = {1, exp}
for n, id in ipairs(taken) do
  table.insert(out, id)
  table.insert(out, items[n] or '')
  table.insert(out, reclaims[n] or '0')
  table.insert(out, cjson.encode(metas[n]))
end
return out
"""

# KEYS: ready leased owner items meta reclaims locks
# ARGV: token, acks (json ids), retries (json [id, delay_ms, item, alone]), lock keys (json)
_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token = ARGV[1]
local done = 0
for _, id in ipairs(cjson.decode(ARGV[2])) do
  if redis.call('HGET', KEYS[3], id) == token then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    redis.call('HDEL', KEYS[5], id)
    redis.call('HDEL', KEYS[6], id)
    done = done + 1
  end
end
for _, r in ipairs(cjson.decode(ARGV[3])) do
  local id = r[1]
  if redis.call('HGET', KEYS[3], id) == token then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HSET', KEYS[4], id, r[3])
    local meta = cjson.decode(redis.call('HGET', KEYS[5], id) or '{}')
    meta['r'] = 1
    if r[4] == 1 then meta['s'] = 1 end
    redis.call('HSET', KEYS[5], id, cjson.encode(meta))
    redis.call('ZADD', KEYS[1], now + r[2], id)
    done = done + 1
  end
end
local prefix = token .. ':'
for _, k in ipairs(cjson.decode(ARGV[4])) do
  local v = redis.call('HGET', KEYS[7], k)
  if v and string.sub(v, 1, #prefix) == prefix then redis.call('HDEL', KEYS[7], k) end
end
return done
"""

# KEYS: leased owner locks; ARGV: token lease_ms ids(json) lock keys(json)
_TOUCH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token = ARGV[1]
local exp = now + tonumber(ARGV[2])
local held = 0
for _, id in ipairs(cjson.decode(ARGV[3])) do
  if redis.call('HGET', KEYS[2], id) == token then
    redis.call('ZADD', KEYS[1], 'XX', exp, id)
    held = held + 1
  end
end
local prefix = token .. ':'
for _, k in ipairs(cjson.decode(ARGV[4])) do
  local v = redis.call('HGET', KEYS[3], k)
  if v and string.sub(v, 1, #prefix) == prefix then
    redis.call('HSET', KEYS[3], k, prefix .. exp)
  end
end
return {held, exp}
"""

# KEYS: ready leased; returns {due now, leases expired, waiting in all, next due in ms or -1}
_DUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local expired = redis.call('ZCOUNT', KEYS[2], '-inf', now)
local total = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
local nxt = -1
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first > 0 then nxt = math.max(0, tonumber(first[2]) - now) end
local lease = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #lease > 0 then
  local w = math.max(0, tonumber(lease[2]) - now)
  if nxt < 0 or w < nxt then nxt = w end
end
return {due, expired, total, nxt}
"""


@dataclass(frozen=True)
class Backlog:
    due: int  # may be claimed now
    expired: int  # leased by a holder whose lease ran out
    total: int  # everything in the queue
    next_in: float | None  # seconds until something becomes due, None when empty


def _keys(kind: Kind) -> list[str]:
    base = f"{PREFIX}:{kind.value}"
    return [
        f"{base}:ready",
        f"{base}:leased",
        f"{base}:owner",
        f"{base}:items",
        f"{base}:meta",
        f"{base}:reclaims",
        LOCKS_KEY,
    ]


class Outbox:
    """The queues of every kind, on one Redis (a `decode_responses=True` client)."""

    def __init__(self, connection: redis.Redis, scan: int = 400) -> None:
        self.redis = connection
        self.scan = scan
        self._add = connection.register_script(_ADD)
        self._claim = connection.register_script(_CLAIM)
        self._settle = connection.register_script(_SETTLE)
        self._touch = connection.register_script(_TOUCH)
        self._due = connection.register_script(_DUE)

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

        An entry given an id that is already queued keeps its place and is replaced, so
        that a step replayed after a crash queues its follow-up once.
        """
        kinds: list[Kind] = []
        rows: list[list[Any]] = []
        for n, entry in enumerate(entries):
            kind = kind_of(entry)
            if kind not in kinds:
                kinds.append(kind)
            meta = json.dumps({"l": lock_keys(entry.command)})
            given = ids[n] if ids else ""
            rows.append([kinds.index(kind) + 1, given, entry.to_json(), meta, int(delay * 1000)])
        keys = [SEQ_KEY, once_key or f"{PREFIX}:none"]
        for kind in kinds:
            k = _keys(kind)
            keys.extend([k[0], k[1], k[3], k[4]])
        once = str(int(once_ttl * 1000)) if once_key else ""
        result = self._add(keys=keys, args=[once, json.dumps(rows)])
        if result == -1:
            return None
        return [str(i) for i in result]

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
        result = self._claim(keys=_keys(kind), args=args)
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
        return int(self._settle(keys=_keys(claim.kind), args=args))

    def touch(self, claim: Claim, lease: float) -> int:
        """Extend the claim's lease; how many of its entries it still holds."""
        k = _keys(claim.kind)
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
        k = _keys(kind)
        due, expired, total, nxt = self._due(keys=[k[0], k[1]])
        return Backlog(int(due), int(expired), int(total), None if int(nxt) < 0 else nxt / 1000)

    def size(self, kinds: Iterable[Kind] = tuple(Kind)) -> int:
        return sum(self.backlog(kind).total for kind in kinds)

    def entries(self, kind: Kind) -> list[tuple[str, Entry]]:
        """Everything queued or leased in `kind`, for inspection."""
        found: list[tuple[str, Entry]] = []
        for entry_id, raw in self.redis.hgetall(_keys(kind)[3]).items():
            found.append((str(entry_id), Entry.model_validate_json(raw)))
        return sorted(found)
