"""What the CRM held for a record when we last wrote or read it, kept compactly.

One string per external id, `idmap:{external id}#seen` (under the id map's prefix, so
that forgetting a shop's id map forgets these too): zlib-compressed JSON of

- deals: the deal id, the `updated_at` the CRM gave that state, and its fields
  (everything but id and timestamps), as the CRM answered them;
- contacts: the fields we last sent, merged as /import-contacts-bulk merges them
  (the bulk answer holds no record, so this is our side of the contact).

With it an update is built without reading the deal first: the PATCH is the command
applied to this state, guarded by `updated_at=eq.<that time>` so that it writes only
a deal nobody changed since (see `workers.deals`); and an update that changes nothing
in this state is not sent at all. A snapshot expires after `TTL` (an order stops
changing); the next update then reads the deal first, as before.

Only the holder of the external id's lock (see `workers.outbox`) writes here.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis

from adapter.crm.models import DealRecord, dumps
from workers.idmap import IdMap

SUFFIX = "#seen"
TTL = 30 * 24 * 3600
# the columns a deal snapshot leaves out: they are not ours to write
_NOT_FIELDS = ("id", "created_at", "updated_at")


def plain(value: Any) -> Any:
    """JSON types as the CRM answers them (numbers as Decimal), for comparisons: a
    command's Decimal("10.50") and the CRM's 10.5 are the same value."""
    return json.loads(dumps(value), parse_float=Decimal)


@dataclass(frozen=True)
class DealState:
    deal_id: str
    updated_at: str | None  # None: unknown, so a PATCH cannot be guarded
    fields: dict[str, Any]

    @classmethod
    def of(cls, record: DealRecord) -> DealState:
        data = record.model_dump()
        fields = {k: v for k, v in data.items() if k not in _NOT_FIELDS}
        updated_at = data.get("updated_at")
        return cls(
            deal_id=record.id,
            updated_at=updated_at if isinstance(updated_at, str) else None,
            fields=plain(fields),
        )

    @property
    def contact_id(self) -> str | None:
        value = self.fields.get("contact_id")
        return value if isinstance(value, str) else None


def _pack(data: dict[str, Any]) -> str:
    return base64.b85encode(zlib.compress(dumps(data), 6)).decode()


def _unpack(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(zlib.decompress(base64.b85decode(text)), parse_float=Decimal)
    except (ValueError, zlib.error):
        return None
    return data if isinstance(data, dict) else None


class Snapshots:
    def __init__(self, connection: redis.Redis, ttl: int = TTL, ns: str = "") -> None:
        self.redis = connection
        self.ttl = ttl
        self._idmap = IdMap(connection, ns)

    def key(self, external_id: str) -> str:
        return self._idmap.key(external_id) + SUFFIX

    def _get_many(self, external_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(external_ids))
        if not ids:
            return {}
        found = self.redis.mget([self.key(i) for i in ids])
        out: dict[str, dict[str, Any]] = {}
        for external_id, text in zip(ids, found, strict=True):
            data = _unpack(str(text)) if text else None
            if data is not None:
                out[external_id] = data
        return out

    def deals(self, external_ids: Iterable[str]) -> dict[str, DealState]:
        out: dict[str, DealState] = {}
        for external_id, data in self._get_many(external_ids).items():
            if data.get("t") == "deal" and isinstance(data.get("id"), str):
                out[external_id] = DealState(data["id"], data.get("u"), data.get("f") or {})
        return out

    def contacts(self, external_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {
            external_id: data.get("f") or {}
            for external_id, data in self._get_many(external_ids).items()
            if data.get("t") == "contact"
        }

    def put_deals(self, states: Iterable[tuple[str, DealState]]) -> None:
        self._put(
            (ext, {"t": "deal", "id": s.deal_id, "u": s.updated_at, "f": s.fields})
            for ext, s in states
        )

    def put_contacts(self, states: Iterable[tuple[str, dict[str, Any]]]) -> None:
        self._put((ext, {"t": "contact", "f": fields}) for ext, fields in states)

    def _put(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            for external_id, data in items:
                pipe.set(self.key(external_id), _pack(data), ex=self.ttl)
            pipe.execute()

    def forget(self, external_id: str) -> None:
        self.redis.delete(self.key(external_id))
