"""Dead letters: what could not be delivered, kept whole until someone fixes and replays it.

Two kinds: a `command` the CRM refused for good (a 4xx, a row error that is not
transient, or transient failures past their bound), kept as its outbox entry; and a
`delivery` that verified but could not be mapped, kept raw. `replay` puts a command
back in the outbox, or maps a delivery again; `drop` forgets one.

Storage: hash `deadletter:items` (id -> JSON) and sorted set `deadletter:index`
(id -> time), so listing is in order and every write is idempotent by id.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from pydantic import BaseModel, ConfigDict

from adapter import metrics
from adapter.tenants import DEFAULT_TENANT
from workers.outbox import Entry

ITEMS_KEY = "deadletter:items"
INDEX_KEY = "deadletter:index"


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    kind: Literal["command", "delivery"]
    created_at: datetime
    error: str
    status: int | None = None
    attempts: int = 0
    external_id: str | None = None
    command_kind: str | None = None
    shop_domain: str | None = None
    # the tenant whose outbox a command came from (None: the default tenant)
    tenant: str | None = None
    origin: str | None = None
    entry: Entry | None = None
    delivery: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """What `list` shows: no payload, so no personal data."""
        return {
            "id": self.id,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "what": self.command_kind or self.kind,
            "external_id": self.external_id,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
        }


def command_letter(
    entry_id: str,
    entry: Entry,
    error: str,
    status: int | None = None,
    tenant: str = DEFAULT_TENANT,
) -> DeadLetter:
    command = entry.command
    shop = getattr(command, "shop_domain", None) or _shop_of(command.external_id)
    own = tenant != DEFAULT_TENANT
    return DeadLetter(
        # entry ids are counted per tenant
        id=f"cmd-{tenant}-{entry_id}" if own else f"cmd-{entry_id}",
        tenant=tenant if own else None,
        kind="command",
        created_at=datetime.now(UTC),
        error=error,
        status=status,
        attempts=entry.attempts,
        external_id=command.external_id,
        command_kind=command.kind,
        shop_domain=shop,
        origin=entry.origin,
        entry=entry,
    )


def delivery_letter(delivery: dict[str, Any], error: str) -> DeadLetter:
    delivery_id = str(delivery.get("delivery_id") or f"unknown-{time.time_ns()}")
    topic = delivery.get("topic")
    return DeadLetter(
        id=f"dlv-{delivery_id}",
        kind="delivery",
        created_at=datetime.now(UTC),
        error=error,
        command_kind=f"{delivery.get('source')}:{topic}" if topic else None,
        shop_domain=delivery.get("shop_domain") if isinstance(delivery, dict) else None,
        origin=delivery_id,
        delivery=delivery,
    )


def _shop_of(external_id: str) -> str | None:
    parts = external_id.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "shopify" else None


class DeadLetters:
    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection

    def put(self, letter: DeadLetter) -> str:
        with self.redis.pipeline() as pipe:
            pipe.hset(ITEMS_KEY, letter.id, letter.model_dump_json(exclude_none=True))
            pipe.zadd(INDEX_KEY, {letter.id: letter.created_at.timestamp()}, nx=True)
            pipe.execute()
        metrics.dead_lettered(letter.kind)
        return letter.id

    def get(self, letter_id: str) -> DeadLetter | None:
        raw = self.redis.hget(ITEMS_KEY, letter_id)
        return DeadLetter.model_validate_json(raw) if raw else None

    def listing(self, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Dead letters, oldest first."""
        if limit <= 0:
            return []
        ids = [str(i) for i in self.redis.zrange(INDEX_KEY, offset, offset + limit - 1)]
        if not ids:
            return []
        raws = self.redis.hmget(ITEMS_KEY, ids)
        return [DeadLetter.model_validate_json(raw) for raw in raws if raw]

    def ids(self) -> list[str]:
        return [str(i) for i in self.redis.zrange(INDEX_KEY, 0, -1)]

    def count(self) -> int:
        return int(self.redis.zcard(INDEX_KEY))

    def drop(self, letter_id: str) -> bool:
        with self.redis.pipeline() as pipe:
            pipe.hdel(ITEMS_KEY, letter_id)
            pipe.zrem(INDEX_KEY, letter_id)
            removed, _ = pipe.execute()
        return bool(removed)

    def drop_shop(self, shop_domain: str) -> int:
        """Forget every dead letter of a shop (shop/redact)."""
        dropped = 0
        for letter in self.listing(limit=self.count()):
            if letter.shop_domain == shop_domain and self.drop(letter.id):
                dropped += 1
        return dropped
