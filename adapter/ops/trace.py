"""Where is this delivery? Each step it went through, from the ledger and what came after.

    received -> mapped (its commands) -> outbox (waiting, leased, next try, attempts,
    last CRM error) -> delivered (CRM deal and contact ids, when) | dead-lettered (why)

Read-only, and safe to show: no secret, no body, no personal field. Commands are
described by kind, external id and a short summary of non-personal fields (stage,
value, currency); texts from elsewhere are masked as logs are. The commands are those
the stored delivery maps to under the current mapping settings (mapping is pure); a
delivery whose mapping changed since shows what a replay would queue.

`Tracer.find(ident)` takes a delivery id, an external id or a ledger digest;
`Tracer.trace(record)` builds the `Trace` that `adapter trace` prints and
`/status/trace/<digest>` shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapter import events
from adapter.crm.commands import AnyCommand, CreateLead, UpdateDeal, UpsertDeal
from adapter.ledger import DeliveryRecord, Ledger, keys
from adapter.mapping import map_delivery
from adapter.ops.downstream import Downstream, Waiting
from adapter.settings import Settings
from adapter.tenants import DEFAULT_TENANT
from workers.deadletters import DeadLetter

_DIGEST = re.compile(r"[0-9a-f]{64}")

# what a delivery became, as /status and `adapter tail` name it
WAITING = "waiting"  # in the ledger, not mapped yet
MAPPING = "mapping"  # a worker holds it
IN_OUTBOX = "in outbox"
DELIVERED = "delivered"
DEAD = "dead-lettered"
NOTHING = "nothing to send"


@dataclass(frozen=True)
class Step:
    name: str  # received, mapped, outbox, delivered, dead
    at: float | None
    text: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.name, "at": self.at, "text": self.text, **self.detail}


@dataclass(frozen=True)
class Trace:
    digest: str
    source: str
    topic: str
    scope: str
    delivery_id: str
    outcome: str
    steps: list[Step]
    tenant: str = DEFAULT_TENANT

    def as_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "source": self.source,
            "topic": self.topic,
            "scope": self.scope,
            "delivery_id": self.delivery_id,
            "tenant": self.tenant,
            "outcome": self.outcome,
            "steps": [step.as_dict() for step in self.steps],
        }


def summarize(command: AnyCommand) -> str:
    """A command in a few words, none of them personal."""
    if isinstance(command, UpsertDeal | UpdateDeal):
        deal = command.deal if isinstance(command, UpsertDeal) else command.changes
        parts = [f"stage {deal.stage}" if deal.stage else None]
        if deal.value is not None:
            parts.append(f"value {deal.value} {deal.currency or ''}".rstrip())
        return ", ".join(p for p in parts if p) or "deal"
    if isinstance(command, CreateLead):
        lead_deal = command.lead.deal
        value = getattr(lead_deal, "value", None) if lead_deal is not None else None
        return f"lead, value {value}" if value is not None else "lead"
    return command.kind.replace("_", " ")


@dataclass(frozen=True)
class Around:
    """What the traces of many deliveries share, read once: the outbox's entries and
    the dead-lettered commands."""

    waiting: list[Waiting]
    letters: list[DeadLetter]


def _ts(value: Any) -> float | None:
    return value.timestamp() if value is not None else None


class Tracer:
    def __init__(self, settings: Settings, ledger: Ledger, downstream: Downstream) -> None:
        self.settings = settings
        self.ledger = ledger
        self.downstream = downstream

    def find(self, ident: str) -> list[DeliveryRecord]:
        """The deliveries `ident` names: a ledger digest, a delivery id, or the external
        id of a CRM record (every retained delivery that touched it, oldest first)."""
        ident = ident.strip()
        if _DIGEST.fullmatch(ident):
            found = self.ledger.get(ident)
            if found is not None:
                return [found]
        record = self.ledger.get_by_delivery_id(ident)
        if record is not None:
            return [record]
        return self.ledger.find_by_external_id(ident)

    def recent(self, limit: int = 30) -> list[DeliveryRecord]:
        """The newest retained deliveries, newest first."""
        digests = self.ledger.redis.zrevrange(keys.RECEIVED_KEY, 0, limit - 1)
        found = [self.ledger.get(_text(d)) for d in digests]
        return [record for record in found if record is not None]

    def around(self, records: Sequence[DeliveryRecord]) -> Around:
        origins = [r.delivery_id for r in records]
        return Around(self.downstream.waiting(origins), self.downstream.command_letters(origins))

    def commands(self, record: DeliveryRecord) -> list[AnyCommand] | str:
        """The commands the delivery maps to now, or why it does not map."""
        try:
            delivery = record.delivery()
        except Exception as exc:
            return f"stored delivery unreadable: {type(exc).__name__}"
        if delivery is None:
            return "stored delivery gone"
        try:
            return map_delivery(delivery, self.settings.mapping, self.settings.forms)
        except Exception as exc:
            return events.mask(str(getattr(exc, "reason", None) or f"{type(exc).__name__}"))

    def trace(self, record: DeliveryRecord, around: Around | None = None) -> Trace:
        steps = [self._received(record)]
        outcome = {"received": WAITING, "leased": MAPPING}.get(record.state, "")
        if record.state == "dead":
            letter = self.downstream.delivery_letter(record.delivery_id)
            why = events.mask(record.reason or (letter.error if letter else "") or "unknown")
            steps.append(
                Step(
                    "dead",
                    _ts(record.settled_at),
                    f"dead-lettered: {why}",
                    {"reason": why, "dead_letter": record.dead_letter},
                )
            )
            outcome = DEAD
        elif record.state == "mapped":
            outcome = self._after_mapping(record, steps, around or self.around([record]))
        elif record.state == "leased":
            steps.append(Step("mapping", None, f"a worker is mapping it (take {record.takes})"))
        else:
            steps.append(Step("waiting", None, "waiting for a worker to map it"))
        return Trace(
            record.digest,
            record.source,
            record.topic,
            record.scope,
            record.delivery_id,
            outcome,
            steps,
            record.tenant or DEFAULT_TENANT,
        )

    def _received(self, record: DeliveryRecord) -> Step:
        text = f"received {record.source} {record.topic} from {record.scope}, {record.size} bytes"
        if record.replays:
            text += f" (replayed {record.replays}x)"
        detail = {
            "source": record.source,
            "topic": record.topic,
            "scope": record.scope,
            "size": record.size,
            "replays": record.replays,
        }
        return Step("received", _ts(record.received_at), text, detail)

    def _after_mapping(self, record: DeliveryRecord, steps: list[Step], around: Around) -> str:
        commands = self.commands(record)
        listed = (
            [
                {"kind": c.kind, "external_id": c.external_id, "summary": summarize(c)}
                for c in commands
            ]
            if isinstance(commands, list)
            else []
        )
        note = "" if isinstance(commands, list) else f" (now: {commands})"
        steps.append(
            Step(
                "mapped",
                _ts(record.settled_at),
                f"mapped into {record.commands} command(s){note}",
                {"commands": listed},
            )
        )
        origin = record.delivery_id
        pending = [w for w in around.waiting if w.origin == origin]
        letters = [letter for letter in around.letters if letter.origin == origin]
        done = self.downstream.done(origin)
        waiting_for = {w.external_id for w in pending}
        known = self.downstream.crm_ids(x for x in record.external_ids if x not in waiting_for)
        for external_id, ids in sorted(known.items()):
            when = done.get(external_id)
            steps.append(
                Step(
                    "delivered",
                    when.at if when else None,
                    f"in the CRM: {external_id}  deal {ids.deal_id or '-'}  "
                    f"contact {ids.contact_id or '-'}",
                    {
                        "external_id": external_id,
                        "deal_id": ids.deal_id,
                        "contact_id": ids.contact_id,
                    },
                )
            )
        for w in pending:
            state = "leased (being sent)" if w.leased else "waiting"
            error = f", last error: {w.last_error}" if w.last_error else ""
            steps.append(
                Step(
                    "outbox",
                    w.next_try_at,
                    f"{w.command} {w.external_id}: {state}, attempts {w.attempts}{error}",
                    w.as_dict(),
                )
            )
        for letter in letters:
            why = events.mask(letter.error)
            steps.append(
                Step(
                    "dead",
                    letter.created_at.timestamp(),
                    f"{letter.command_kind} {letter.external_id} dead-lettered: {why}",
                    {
                        "dead_letter": letter.id,
                        "external_id": letter.external_id,
                        "status": letter.status,
                        "reason": why,
                    },
                )
            )
        if letters:
            return DEAD
        if pending:
            return IN_OUTBOX
        # local commands only (a data request, a shop's redaction): nothing reaches the CRM
        return DELIVERED if known else NOTHING


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)
