"""Where the ledger lives in Redis: one layout, shared by the web side and the workers.

Under the prefix `ledger:`

- `d:<digest>`  hash: one delivery (see `adapter.ledger.record`)
- `ready`       sorted set, digest -> when it may be taken (ms, Redis time)
- `leased`      sorted set, digest -> when its worker's lease expires (ms)
- `received`    sorted set, digest -> when it was received (ms): listing by time
- `settled`     sorted set, digest -> when it was mapped or dead-lettered (ms): trimming
- `ids`         hash, delivery id -> digest (the latest delivery with that id)
- `x:<external id>` sorted set, digest -> received (ms): deliveries that touched a record
- `bytes`       the bytes the records take, roughly (the retention's memory bound)
- `bell`        flag with a short TTL: a take job is on its way

and beside it the dedupe mark `adapter:dedupe:<digest>` (it outlives the record: the
provider's retries are answered "duplicate" for the dedupe TTL).

The digest is the SHA-256 of the dedupe key (source, shop or form, delivery id): key
names never carry personal data, and RQ-safe characters only.
"""

from __future__ import annotations

import hashlib

from adapter.webhook import WebhookDelivery

PREFIX = "ledger:"
MARK_PREFIX = "adapter:dedupe:"
READY_KEY = PREFIX + "ready"
LEASED_KEY = PREFIX + "leased"
RECEIVED_KEY = PREFIX + "received"
SETTLED_KEY = PREFIX + "settled"
IDS_KEY = PREFIX + "ids"
BYTES_KEY = PREFIX + "bytes"
BELL_KEY = PREFIX + "bell"


def dedupe_key(delivery: WebhookDelivery) -> str:
    """The delivery's identity, namespaced by source and by shop or form."""
    return identity(delivery.source, scope_of(delivery), delivery.delivery_id)


def scope_of(delivery: WebhookDelivery) -> str:
    return delivery.shop_domain or delivery.form_id or "-"


def identity(source: str, scope: str, delivery_id: str) -> str:
    return f"{source}:{scope}:{delivery_id}"


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def record_key(digest: str) -> str:
    return f"{PREFIX}d:{digest}"


def external_key(external_id: str) -> str:
    return f"{PREFIX}x:{external_id}"


def mark_key(digest: str) -> str:
    return MARK_PREFIX + digest
