"""External id -> CRM ids, and what was applied or attempted for each external id.

One hash per external id, `idmap:{external id}`:

- `deal_id`, `contact_id`: the CRM records, recorded after every success (including
  rows the CRM skipped as existing, which still name the record).
- `applied_at`, `applied_digest`: the source's `updated_at` of the newest command
  applied, and the digest of the last one, so an older or repeated command is skipped.
- `attempted_at`: the newest `updated_at` of a whole record (an upsert or a lead) ever
  *sent*, written before sending. A command older than that is skipped too: the newer
  one stays in the outbox until it is applied or dead-lettered, so deferring to it is
  right even when its answer was lost.
- `attempts`: digests of the creates sent since the record's state was last known,
  written before sending. When an answer is lost (a timeout, a 500 after commit, a
  killed worker) and the resend finds the record existing, `created_by` tells whether
  the only create that could have made it carried this very command: then nothing more
  is needed; otherwise the record is PATCHed to this (newest) command. With no attempt
  on record, the CRM has never been asked: the outbox and this map share one Redis.

Only the holder of the external id's lock (see `workers.outbox`) writes here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from adapter.crm.commands import AnyCommand

PREFIX = "idmap:"


def digest(command: AnyCommand) -> str:
    """Identifies a command's content: the same command twice has the same digest (also
    after a trip through the outbox, whose JSON keeps every key's order)."""
    body = command.model_dump_json(exclude_none=True)
    return hashlib.sha256(body.encode()).hexdigest()[:24]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Record:
    deal_id: str | None = None
    contact_id: str | None = None
    applied_at: datetime | None = None
    applied_digest: str | None = None
    attempted_at: datetime | None = None
    attempts: tuple[str, ...] = ()

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> Record:
        return cls(
            deal_id=data.get("deal_id") or None,
            contact_id=data.get("contact_id") or None,
            applied_at=_when(data.get("applied_at")),
            applied_digest=data.get("applied_digest") or None,
            attempted_at=_when(data.get("attempted_at")),
            attempts=tuple(d for d in data.get("attempts", "").split(",") if d),
        )

    def supersedes(self, command: AnyCommand) -> bool:
        """True when `command` is already applied, or older than one applied or sent."""
        if self.applied_digest is not None and self.applied_digest == digest(command):
            return True
        newest = _newest(self.applied_at, self.attempted_at)
        if newest is None or command.source_updated_at is None:
            return False
        return _utc(command.source_updated_at) < newest

    def created_by(self, command: AnyCommand) -> bool:
        """True when every create sent for this record (before the current one) carried
        `command`: the record the CRM reports as existing is that create's."""
        return self.attempts == (digest(command),)


class IdMap:
    """The id map of one tenant: its keys are prefixed with the tenant's namespace `ns`
    ('' for the default tenant), so no tenant ever reads another's CRM ids."""

    def __init__(self, connection: redis.Redis, ns: str = "") -> None:
        self.redis = connection
        self.ns = ns

    def key(self, external_id: str) -> str:
        return self.ns + PREFIX + external_id

    def get(self, external_id: str) -> Record:
        return Record.from_hash(_text(self.redis.hgetall(self.key(external_id))))

    def get_many(self, external_ids: Iterable[str]) -> dict[str, Record]:
        ids = list(dict.fromkeys(external_ids))
        with self.redis.pipeline(transaction=False) as pipe:
            for external_id in ids:
                pipe.hgetall(self.key(external_id))
            found = pipe.execute()
        return {ext: Record.from_hash(_text(data)) for ext, data in zip(ids, found, strict=True)}

    def note_attempts(
        self, sends: Iterable[tuple[AnyCommand, Record]], *, create: bool = True
    ) -> None:
        """Before sending: remember what we are about to ask for (`create`: a create,
        whose answer may be lost after the record was made)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for command, record in sends:
                fields: dict[Any, Any] = {}
                newest = _newest(record.attempted_at, command.source_updated_at)
                if newest is not None:
                    fields["attempted_at"] = newest.isoformat()
                if create:
                    attempts = dict.fromkeys([*record.attempts, digest(command)])
                    fields["attempts"] = ",".join(attempts)
                if fields:
                    pipe.hset(self.key(command.external_id), mapping=fields)
            pipe.execute()

    def record(
        self,
        external_id: str,
        *,
        deal_id: str | None = None,
        contact_id: str | None = None,
        applied: AnyCommand | None = None,
        previous: Record | None = None,
    ) -> None:
        """Remember CRM ids and, when `applied`, that this command is now in the CRM."""
        writes = self.writes()
        writes.record(
            external_id, deal_id=deal_id, contact_id=contact_id, applied=applied, previous=previous
        )
        writes.flush()

    def writes(self) -> Writes:
        """Records to write in one round trip (a batch's answers)."""
        return Writes(self)

    def forget_deal(self, external_id: str) -> None:
        """The CRM no longer has the deal: the next upsert creates it again."""
        self.redis.hdel(self.key(external_id), "deal_id", "applied_digest", "attempts")

    def delete_prefix(self, prefix: str) -> int:
        """Delete every entry whose external id starts with `prefix`; how many."""
        pattern = _glob_escape(self.ns + PREFIX + prefix) + "*"
        deleted = 0
        batch: list[str] = []
        for key in self.redis.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(self.redis.delete(*batch))
                batch = []
        if batch:
            deleted += int(self.redis.delete(*batch))
        return deleted


class Writes:
    def __init__(self, idmap: IdMap) -> None:
        self.idmap = idmap
        self._pending: list[tuple[str, dict[Any, Any]]] = []

    def record(
        self,
        external_id: str,
        *,
        deal_id: str | None = None,
        contact_id: str | None = None,
        applied: AnyCommand | None = None,
        previous: Record | None = None,
    ) -> None:
        fields: dict[Any, Any] = {}
        if deal_id:
            fields["deal_id"] = deal_id
        if contact_id:
            fields["contact_id"] = contact_id
        if applied is not None:
            fields["applied_digest"] = digest(applied)
            # once a command is known to be applied, the record's state is known again
            fields["attempts"] = ""
            newest = _newest(previous.applied_at if previous else None, applied.source_updated_at)
            if newest is not None:
                fields["applied_at"] = newest.isoformat()
        if fields:
            self._pending.append((self.idmap.key(external_id), fields))

    def flush(self) -> None:
        if not self._pending:
            return
        with self.idmap.redis.pipeline(transaction=False) as pipe:
            for key, fields in self._pending:
                pipe.hset(key, mapping=fields)
            pipe.execute()
        self._pending = []


def _text(data: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(data).items()}


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return _utc(a) if a else (_utc(b) if b else None)
    return max(_utc(a), _utc(b))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
