"""The delivery ledger: where a verified delivery is, from the 202 until it is safe.

    A verified delivery is written, with its dedupe mark, into the ledger in one Lua
    step before the 202; a worker leases it, maps it and writes its commands into the
    outbox (once per delivery) and only then acks it; an expired lease (a dead worker)
    puts it back, and the pump rings RQ again.

Used by the web side (`adapter.inbox` writes with `scripts.INGEST`) and by the workers
(`workers.take` claims and acks), which never import each other; the key layout is in
`keys`, the scripts (and why they are scripts) in `scripts`, the record in `record`,
the RQ wake-up in `bell`.

Retention: settled records (mapped or dead) stay for `delivery_retention_hours`
(default 72) for trace and replay, and the oldest settled ones go first once the
records take more than `delivery_retention_mb`; unsettled ones are never trimmed.

Public read API (`Ledger`, on a client that returns bytes):

- `get(digest)`, `get_by_delivery_id(delivery_id, source=..., scope=...)` -> DeliveryRecord
- `listing(since=, until=, source=, topic=, state=, limit=)` -> oldest first
- `find_by_external_id(external_id)` -> the deliveries whose commands touched it
- `requeue(digests)` -> replay: mapped or dead deliveries are taken again
- `forget(digests)` -> delete (redact); `backlog()`, `count()`, `stored_bytes()`, `trim()`

A DeliveryRecord's `summary()` has no payload (safe to show), `delivery()` the
WebhookDelivery as received.
"""

from adapter.ledger.keys import dedupe_key, digest_of
from adapter.ledger.record import DeliveryRecord, State, decode_delivery, encode_delivery
from adapter.ledger.store import Ledger, LedgerBacklog, Taken

__all__ = [
    "DeliveryRecord",
    "Ledger",
    "LedgerBacklog",
    "State",
    "Taken",
    "decode_delivery",
    "dedupe_key",
    "digest_of",
    "encode_delivery",
]
