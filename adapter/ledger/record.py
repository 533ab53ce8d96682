"""One delivery in the ledger: how it is stored, and what a reader gets back.

The record keeps the verified delivery as JSON (the body's JSON quoted as it came)
beside metadata that carries no secret and no payload:
source, topic, scope (shop or form), delivery id, when it was received, the raw body's
size. Then its state and what it became:

- `received`  waiting in `ready` for a worker;
- `leased`    a worker holds it (until its lease expires: then `received` again);
- `mapped`    its commands are in the outbox (`outbox`: entry ids, `commands`: how many,
              `external_ids`: the CRM records they touch);
- `dead`      it could not be mapped (`dead_letter`, `reason`).

The web side stores that JSON as it is: compressing it there cost a fifth of the
ingest path's CPU (docs/benchmarks.md), on the request a provider waits for. The
worker that settles the record swaps in the zlib-compressed form (`compact`), so what
is retained for replay is compressed; a reader tells the two forms apart by the first
byte (JSON text starts with `{`, a zlib stream never does).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from adapter.webhook import WebhookDelivery

State = Literal["received", "leased", "mapped", "dead"]
STATES: tuple[State, ...] = ("received", "leased", "mapped", "dead")
# any level decompresses the same; 1 costs half of 6 for ~10 % more bytes
_LEVEL = 1


_JSON_START = b"{"


def encode_delivery(delivery: WebhookDelivery, payload_json: bytes | None = None) -> bytes:
    """The stored form of a delivery, as the web side writes it: JSON text, not
    compressed. `payload_json`, when given, is the JSON text the payload was parsed
    from: it is quoted instead of serialized again."""
    if payload_json is None:
        try:
            return delivery.model_dump_json().encode("utf-8")
        except ValueError:
            # a payload parsed from a body with a lone surrogate escape ("\ud800", valid
            # JSON, not valid UTF-8): kept as an escape, as json writes it, and read
            # back by json.loads; mapping then decides what it is worth
            return json.dumps(delivery.model_dump(mode="json")).encode("ascii")
    rest = delivery.model_dump_json(exclude={"payload"}).encode("utf-8")
    return rest[:-1] + b',"payload":' + payload_json + b"}"


def compact(body: bytes) -> bytes | None:
    """The compressed form of a stored body written as JSON text, for the record that
    is settled; None when it is compressed already or compressing does not shrink it."""
    if not body.startswith(_JSON_START):
        return None
    packed = zlib.compress(body, _LEVEL)
    return packed if len(packed) < len(body) else None


def decode_delivery(body: bytes) -> WebhookDelivery:
    # json.loads, as the body was parsed when it was verified: pydantic's own JSON
    # parser refuses some bodies Python's accepts (a lone surrogate escape, "\ud800")
    return WebhookDelivery.model_validate(decode_raw(body))


def decode_raw(body: bytes) -> Any:
    """The stored JSON, unvalidated (for a dead letter of something that does not validate),
    whether the body is JSON text or compressed."""
    return json.loads(body if body.startswith(_JSON_START) else zlib.decompress(body))


def _text(raw: dict[bytes, bytes], name: str) -> str | None:
    value = raw.get(name.encode())
    return value.decode("utf-8", "replace") if value is not None else None


def _ms_time(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None


@dataclass(frozen=True)
class DeliveryRecord:
    digest: str
    source: str
    topic: str
    scope: str
    delivery_id: str
    received_at: datetime | None
    size: int
    stored_bytes: int
    state: State
    takes: int = 0
    replays: int = 0
    settled_at: datetime | None = None
    outbox: list[str] = field(default_factory=list)
    commands: int = 0
    external_ids: list[str] = field(default_factory=list)
    dead_letter: str | None = None
    reason: str | None = None
    # the CRM organisation its commands went to (None: the default tenant)
    tenant: str | None = None
    body: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_hash(cls, digest: str, raw: dict[bytes, bytes]) -> DeliveryRecord:
        state = _text(raw, "state") or "received"
        return cls(
            digest=digest,
            source=_text(raw, "source") or "",
            topic=_text(raw, "topic") or "",
            scope=_text(raw, "scope") or "-",
            delivery_id=_text(raw, "delivery_id") or "",
            received_at=_ms_time(_text(raw, "received_at")),
            size=int(_text(raw, "size") or 0),
            stored_bytes=int(_text(raw, "bytes") or 0),
            state=state if state in STATES else "received",
            takes=int(_text(raw, "takes") or 0),
            replays=int(_text(raw, "replays") or 0),
            settled_at=_ms_time(_text(raw, "settled_at")),
            outbox=json.loads(_text(raw, "outbox") or "[]"),
            commands=int(_text(raw, "commands") or 0),
            external_ids=sorted(json.loads(_text(raw, "external_ids") or "[]")),
            dead_letter=_text(raw, "dead_letter"),
            reason=_text(raw, "reason"),
            tenant=_text(raw, "tenant"),
            body=raw.get(b"body"),
        )

    def delivery(self) -> WebhookDelivery | None:
        """The delivery as it was received (None once the body is gone)."""
        return decode_delivery(self.body) if self.body is not None else None

    def summary(self) -> dict[str, Any]:
        """Everything but the payload: safe to show and to log."""
        return {
            "digest": self.digest,
            "source": self.source,
            "topic": self.topic,
            "scope": self.scope,
            "delivery_id": self.delivery_id,
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "size": self.size,
            "state": self.state,
            "takes": self.takes,
            "replays": self.replays,
            "settled_at": self.settled_at.isoformat() if self.settled_at else None,
            "outbox": self.outbox,
            "commands": self.commands,
            "external_ids": self.external_ids,
            "dead_letter": self.dead_letter,
            "reason": self.reason,
        }
