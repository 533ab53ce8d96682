"""`Ledger`: the delivery ledger for synchronous readers and workers (a bytes client)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

import adapter.ledger.keys as keys
import adapter.ledger.scripts as scripts
from adapter.ledger.record import DeliveryRecord, State

DEFAULT_RETENTION_HOURS = 72.0
DEFAULT_RETENTION_MB = 256
DEFAULT_LEASE_SECONDS = 10.0
# settled records removed per acknowledgement: trimming keeps pace with intake in
# small steps instead of one long script
TRIM_STEP = 4


@dataclass(frozen=True)
class Taken:
    """A delivery leased to a worker: its digest, how often it was taken and replayed,
    its stored body."""

    digest: str
    takes: int
    replays: int
    body: bytes


@dataclass(frozen=True)
class LedgerBacklog:
    due: int  # ready and due now
    expired: int  # leased, lease expired (its worker died)
    ready: int
    leased: int

    @property
    def waiting(self) -> int:
        return self.due + self.expired

    @property
    def total(self) -> int:
        return self.ready + self.leased


def _ms(at: datetime | float | None, default: str) -> str:
    if at is None:
        return default
    seconds = at.timestamp() if isinstance(at, datetime) else at
    return str(int(seconds * 1000))


class Ledger:
    def __init__(
        self,
        connection: redis.Redis,
        *,
        retention_hours: float = DEFAULT_RETENTION_HOURS,
        retention_mb: float = DEFAULT_RETENTION_MB,
    ) -> None:
        self.redis = connection
        self.retention_ms = int(retention_hours * 3600 * 1000)
        self.max_bytes = int(retention_mb * 1024 * 1024)
        self._claim = connection.register_script(scripts.CLAIM)
        self._renew = connection.register_script(scripts.RENEW)
        self._ack = connection.register_script(scripts.ACK)
        self._requeue = connection.register_script(scripts.REQUEUE)
        self._trim = connection.register_script(scripts.TRIM)
        self._forget = connection.register_script(scripts.FORGET)
        self._backlog = connection.register_script(scripts.BACKLOG)

    # --- the worker's side ------------------------------------------------------

    def claim(self, limit: int, lease_seconds: float, token: str) -> list[Taken]:
        """Lease up to `limit` due deliveries to `token`, after putting the deliveries
        of expired leases back (their workers died)."""
        reply = self._claim(args=[keys.PREFIX, limit, int(lease_seconds * 1000), token])
        return [
            Taken(reply[i].decode("ascii"), int(reply[i + 1]), int(reply[i + 2]), reply[i + 3])
            for i in range(0, len(reply), 4)
        ]

    def renew(self, digests: Sequence[str], lease_seconds: float, token: str) -> int:
        if not digests:
            return 0
        return int(self._renew(args=[keys.PREFIX, int(lease_seconds * 1000), token, *digests]))

    def ack(
        self,
        digest: str,
        token: str,
        *,
        state: State,
        outcome: dict[str, str],
        external_ids: Iterable[str] = (),
        packed_body: bytes | None = None,
    ) -> bool:
        """Settle a delivery `token` holds (mapped or dead); False if it no longer does.
        `packed_body` (`record.compact` of the stored body) replaces the stored body."""
        args: list[str | int | bytes] = [
            keys.PREFIX,
            token,
            digest,
            state,
            json.dumps(outcome),
            json.dumps(sorted(set(external_ids))),
            self.retention_ms,
            self.max_bytes,
            TRIM_STEP,
            packed_body or b"",
        ]
        return bool(self._ack(args=args))

    def backlog(self) -> LedgerBacklog:
        due, expired, ready, leased = self._backlog(args=[keys.PREFIX])
        return LedgerBacklog(int(due), int(expired), int(ready), int(leased))

    def trim(self, limit: int = 1000) -> int:
        """Forget settled records past the retention or over the memory bound."""
        return int(self._trim(args=[keys.PREFIX, self.retention_ms, self.max_bytes, limit]))

    # --- the public read API (trace, replay, status) ----------------------------

    def get(self, digest: str) -> DeliveryRecord | None:
        raw: dict[bytes, bytes] = self.redis.hgetall(keys.record_key(digest))  # type: ignore[assignment]
        return DeliveryRecord.from_hash(digest, raw) if raw else None

    def get_by_delivery_id(
        self, delivery_id: str, *, source: str | None = None, scope: str = "-"
    ) -> DeliveryRecord | None:
        """By the provider's delivery id; with `source` (and shop or form as `scope`)
        exactly, else the latest delivery stored with that id."""
        if source is not None:
            return self.get(keys.digest_of(keys.identity(source, scope, delivery_id)))
        digest = self.redis.hget(keys.IDS_KEY, delivery_id)
        return self.get(digest.decode("ascii")) if digest else None  # type: ignore[union-attr]

    def find_by_external_id(self, external_id: str) -> list[DeliveryRecord]:
        """Deliveries whose commands touched this CRM record (external id), oldest first."""
        digests = self.redis.zrange(keys.external_key(external_id), 0, -1)
        return self._records(d.decode("ascii") for d in digests)  # type: ignore[union-attr]

    def listing(
        self,
        *,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        source: str | None = None,
        topic: str | None = None,
        state: State | None = None,
        limit: int = 100,
    ) -> list[DeliveryRecord]:
        """Deliveries received in [since, until] (datetimes or epoch seconds), oldest
        first, filtered by source, topic and state, at most `limit` of them."""
        found: list[DeliveryRecord] = []
        low, high, offset, page = _ms(since, "-inf"), _ms(until, "+inf"), 0, 500
        while len(found) < limit:
            digests = self.redis.zrangebyscore(keys.RECEIVED_KEY, low, high, start=offset, num=page)
            if not digests:
                break
            offset += len(digests)
            for record in self._records(d.decode("ascii") for d in digests):  # type: ignore[union-attr]
                if (
                    (source is None or record.source == source)
                    and (topic is None or record.topic == topic)
                    and (state is None or record.state == state)
                ):
                    found.append(record)
        return found[:limit]

    def requeue(self, digests: Sequence[str]) -> int:
        """Replay: settled deliveries are taken and mapped again (their commands are
        queued again; the outbox's checks keep the CRM from getting duplicates)."""
        if not digests:
            return 0
        return int(self._requeue(args=[keys.PREFIX, *digests]))

    def forget(self, digests: Sequence[str]) -> int:
        """Delete deliveries and their index entries, in whatever state (privacy)."""
        if not digests:
            return 0
        return int(self._forget(args=[keys.PREFIX, *digests]))

    def stored_bytes(self) -> int:
        return int(self.redis.get(keys.BYTES_KEY) or 0)

    def count(self) -> int:
        return int(self.redis.zcard(keys.RECEIVED_KEY))

    def _records(self, digests: Iterable[str]) -> list[DeliveryRecord]:
        wanted = list(digests)
        if not wanted:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for digest in wanted:
                pipe.hgetall(keys.record_key(digest))
            raws: list[Any] = pipe.execute()
        return [
            DeliveryRecord.from_hash(digest, raw)
            for digest, raw in zip(wanted, raws, strict=True)
            if raw
        ]
