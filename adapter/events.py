"""What happened to deliveries, as it happens: a capped Redis stream for `adapter tail`,
and a bounded list of refused requests for `/status`.

Writers add to a pipeline they send anyway (the web side's metrics flush, the take
job's and the flush's own writes), so an event costs no round trip of its own. An
event names a delivery (source, topic, shop or form, delivery id) and what became of
it; it never carries a payload, a header value or a personal field. Texts that come
from elsewhere (a CRM's error, a refusal's reason) are masked before they are added.

Kinds, in the order a delivery meets them:

- `verified`   the web side stored it (`outcome`: queued, duplicate, ignored);
- `rejected`   the web side refused a request (`status`, `reason`: no delivery id);
- `mapped`     a worker queued its commands (`commands`: how many);
- `dead`       it could not be mapped (`reason`), or a command of it was refused for
               good (`external_id`, `reason`);
- `delivered`  the CRM took a command of it (`external_id`, `deal_id`, `contact_id`).

Storage: stream `events:deliveries` (XADD MAXLEN ~ 10000), list `events:rejected`
(the newest 100), and per delivery id `events:done:<id>` (a hash, external id -> when
and the CRM ids), kept as long as the ledger keeps deliveries, so a trace can say when.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from adapter.logs import Redactor

STREAM_KEY = "events:deliveries"
STREAM_MAXLEN = 10_000
REJECTED_KEY = "events:rejected"
REJECTED_LIMIT = 100
DONE_PREFIX = "events:done:"
DONE_TTL_SECONDS = 72 * 3600
KINDS = ("verified", "rejected", "mapped", "dead", "delivered")

_redact = Redactor()


def mask(text: str, limit: int = 300) -> str:
    """`text` masked as logs are (emails, phones, provider secrets), cut to `limit`."""
    return _redact(text)[:limit]


@dataclass(frozen=True)
class Event:
    id: str  # the stream's id: milliseconds-sequence
    kind: str
    fields: dict[str, str]

    @property
    def at(self) -> float:
        return int(self.id.split("-", 1)[0]) / 1000

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


def event_fields(kind: str, **fields: object) -> dict[str, str]:
    """An event's fields as the stream stores them (None values left out)."""
    found = {"kind": kind}
    for name, value in fields.items():
        if value is not None:
            found[name] = str(value)
    return found


def queue_event(pipe: Any, fields: Mapping[str, str]) -> None:
    """Add one event to a redis-py pipeline (sync or asyncio)."""
    pipe.xadd(STREAM_KEY, dict(fields), maxlen=STREAM_MAXLEN, approximate=True)


# KEYS[1] the stream; ARGV[1] its approximate cap, then per event its number of fields
# and that many name, value pairs
_ADD_MANY = """
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local entry = {}
  for j = 1, 2 * n do entry[j] = ARGV[i + j] end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(entry))
  i = i + 1 + 2 * n
end
return 1
"""


def queue_events(pipe: Any, many: Sequence[Mapping[str, str]]) -> None:
    """Add events to a redis-py pipeline as one command: the web side adds one per
    request, and an XADD each cost its flush ~25 us a request (mostly reading each
    reply), a tenth of the ingest path's CPU."""
    if not many:
        return
    args: list[str | int] = [STREAM_MAXLEN]
    for fields in many:
        args.append(len(fields))
        for name, value in fields.items():
            args += (name, value)
    pipe.eval(_ADD_MANY, 1, STREAM_KEY, *args)


def queue_rejected(pipe: Any, source: str, status: int, reason: str, at: float) -> None:
    """A refused request, for `/status` (and the stream, for `adapter tail`)."""
    entry = {"at": round(at, 3), "source": source, "status": status, "reason": mask(reason)}
    pipe.lpush(REJECTED_KEY, json.dumps(entry, separators=(",", ":")))
    pipe.ltrim(REJECTED_KEY, 0, REJECTED_LIMIT - 1)
    queue_event(
        pipe, event_fields("rejected", source=source, status=status, reason=entry["reason"])
    )


def queue_delivered(
    pipe: Any,
    delivery_id: str,
    external_id: str,
    *,
    deal_id: str | None,
    contact_id: str | None,
    at: float | None = None,
) -> None:
    """A command of delivery `delivery_id` reached the CRM: remembered for its trace."""
    key = DONE_PREFIX + delivery_id
    when = time.time() if at is None else at
    done = {"at": round(when, 3), "deal_id": deal_id, "contact_id": contact_id}
    pipe.hset(key, external_id, json.dumps(done, separators=(",", ":")))
    pipe.expire(key, DONE_TTL_SECONDS)


def publish(connection: redis.Redis, events: list[dict[str, str]]) -> None:
    """Add events in one round trip."""
    if not events:
        return
    with connection.pipeline(transaction=False) as pipe:
        for fields in events:
            queue_event(pipe, fields)
        pipe.execute()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _event(raw_id: Any, raw: Mapping[Any, Any]) -> Event:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return Event(_text(raw_id), fields.pop("kind", ""), fields)


def read(
    connection: redis.Redis, after: str = "$", block_ms: int = 1000, count: int = 500
) -> list[Event]:
    """Events added after the id `after` ("$": from now on), waiting up to `block_ms`."""
    reply: Any = connection.xread({STREAM_KEY: after}, count=count, block=block_ms)
    found: list[Event] = []
    for _stream, items in reply or []:
        found.extend(_event(raw_id, raw) for raw_id, raw in items)
    return found


def latest(connection: redis.Redis, count: int = 100) -> list[Event]:
    """The newest `count` events, oldest first."""
    items: Any = connection.xrevrange(STREAM_KEY, count=count)
    return [_event(raw_id, raw) for raw_id, raw in reversed(items)]


def last_id(connection: redis.Redis) -> str:
    """The id of the newest event ("0-0" when there is none)."""
    items: Any = connection.xrevrange(STREAM_KEY, count=1)
    return _text(items[0][0]) if items else "0-0"


@dataclass(frozen=True)
class Rejected:
    at: float
    source: str
    status: int
    reason: str


def rejected(connection: redis.Redis, limit: int = REJECTED_LIMIT) -> list[Rejected]:
    """The latest refused requests, newest first."""
    found: list[Rejected] = []
    for raw in connection.lrange(REJECTED_KEY, 0, limit - 1):
        try:
            item = json.loads(raw)
            found.append(
                Rejected(
                    float(item["at"]), str(item["source"]), int(item["status"]), item["reason"]
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found


@dataclass(frozen=True)
class Done:
    at: float
    deal_id: str | None
    contact_id: str | None


def done(connection: redis.Redis, delivery_id: str) -> dict[str, Done]:
    """external id -> when the CRM took the command of delivery `delivery_id` for it."""
    found: dict[str, Done] = {}
    for external_id, raw in connection.hgetall(DONE_PREFIX + delivery_id).items():
        try:
            item = json.loads(raw)
            found[_text(external_id)] = Done(
                float(item["at"]), item.get("deal_id"), item.get("contact_id")
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found
