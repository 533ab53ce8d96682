"""A claimed batch and what becomes of each of its entries.

Handlers decide per entry: `done`, `follow_up` (acknowledged, and a next step queued
under a derived id, so a replay after a crash queues it once), `transient` (back in
the outbox after backoff; dead-lettered once its failures outlast the bound),
`later` (back without counting as a failure), `alone` (back, to be sent in a request
of its own) or `dead`. `settle()` writes all of it: follow-ups, dead letters, then
the acknowledgements and requeues in one atomic step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from adapter import metrics
from adapter.crm.errors import CrmError, CrmKeyRefused, CrmUnavailable, TransientCrmError
from workers import tracing
from workers.context import Context
from workers.deadletters import command_letter
from workers.outbox import Claim, Claimed, Entry, Settlement, merged_entry
from workers.privacy import scrub
from workers.status import record_crm_error, record_key_refused, unanswered_pause

log = logging.getLogger(__name__)

# words of a per-row error that say the CRM, not the row, failed
_TRANSIENT_WORDS = (
    "internal",
    "timeout",
    "timed out",
    "temporar",
    "unavailable",
    "try again",
    "retry",
    "deadlock",
    "rate limit",
    "too many",
    "connection",
    "overloaded",
)


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def row_error_is_transient(text: str | None) -> bool:
    lowered = (text or "").lower()
    return any(word in lowered for word in _TRANSIENT_WORDS)


def _absorb(
    older: tuple[datetime, int, Claimed], newer: tuple[datetime, int, Claimed]
) -> tuple[datetime, int, Claimed]:
    """The newer claimed entry, carrying the older one's command merged in if they merge."""
    old_entry, new_entry = older[2].entry, newer[2].entry
    assert old_entry is not None
    assert new_entry is not None
    merged = merged_entry(old_entry, new_entry)
    if merged is None:
        return newer
    # the newer entry's own retry state stays with it
    entry = merged.model_copy(
        update={
            "attempts": new_entry.attempts,
            "first_failure_at": new_entry.first_failure_at,
            "last_error": new_entry.last_error,
            "create": old_entry.create or new_entry.create,
        }
    )
    return newer[0], newer[1], replace(newer[2], entry=entry)


# a lock held by `token` lives another ARGV[2] ms; 0 if someone else holds it now
_RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


@dataclass
class _Letter:
    entry_id: str
    entry: Entry
    error: str
    status: int | None


class Batch:
    def __init__(self, ctx: Context, claim: Claim) -> None:
        self.ctx = ctx
        self.claim = claim
        self.settlement = Settlement()
        self._follow_ups: list[tuple[str, Entry]] = []
        self._letters: list[_Letter] = []
        self._decided: set[str] = set()
        self._touched = time.monotonic()
        self._live: list[Claimed] | None = None
        # Redis locks (key -> token) taken while handling the batch, renewed with it
        self._locks: dict[str, str] = {}

    def live(self) -> list[Claimed]:
        """The claimed entries to work on, at most one per external id.

        One request never carries two rows for one record: the CRM would apply them in
        row order whatever their age, and a resend could not tell which row created the
        record. Commands for one record that do merge (`workers.coalesce`; e.g. one that
        came back after a failure and one queued meanwhile) become one, carried by the
        newest entry; of others, the newest is kept. The rest are acknowledged as
        superseded. Vanished entries are acknowledged too, and one whose workers kept
        dying is dead-lettered.
        """
        if self._live is not None:
            return self._live
        newest: dict[str, tuple[datetime, int, Claimed]] = {}
        for position, claimed in enumerate(self.claim.entries):
            if claimed.entry is None:
                self.done(claimed)
            elif claimed.reclaims > self.ctx.options.max_reclaims:
                self.dead(claimed, f"workers died {claimed.reclaims} times while sending it")
            else:
                command = claimed.entry.command
                key = (_utc(command.source_updated_at), position, claimed)
                seen = newest.get(command.external_id)
                if seen is None:
                    newest[command.external_id] = key
                    continue
                older, newer = sorted([seen, key], key=lambda k: (k[0], k[1]))
                newest[command.external_id] = _absorb(older, newer)
                self.done(older[2])
        self._live = [claimed for _, _, claimed in sorted(newest.values(), key=lambda k: k[1])]
        return self._live

    def is_decided(self, claimed: Claimed) -> bool:
        return claimed.id in self._decided

    def pending(self) -> list[Claimed]:
        return [c for c in self.claim.entries if c.id not in self._decided]

    def keepalive(self) -> None:
        """Renew the claim's lease (and its locks) if a third of it has passed."""
        if time.monotonic() - self._touched >= self.ctx.options.lease / 3:
            self.ctx.outbox.touch(self.claim, self.ctx.options.lease)
            self._touched = time.monotonic()

    def renew(self) -> None:
        """Renew the claim's lease and the locks held for it now (a keeper thread calls
        this while a request is in flight)."""
        lease = self.ctx.options.lease
        self.ctx.outbox.touch(self.claim, lease)
        for key, token in list(self._locks.items()):
            self.ctx.redis.eval(_RENEW_LOCK, 1, key, token, int(lease * 1000))
        self._touched = time.monotonic()

    def hold_lock(self, key: str, token: str) -> None:
        """A lock taken for this batch (SET NX with the lease): renewed with the claim."""
        self._locks[key] = token

    def drop_lock(self, key: str) -> None:
        self._locks.pop(key, None)

    def _decide(self, entry_id: str) -> None:
        if entry_id in self._decided:
            raise RuntimeError(f"outbox entry {entry_id} decided twice")
        self._decided.add(entry_id)

    # -- decisions ----------------------------------------------------------

    def done(self, claimed: Claimed) -> None:
        self._decide(claimed.id)
        self.settlement.ack(claimed.id)

    def follow_up(self, claimed: Claimed, entry: Entry) -> None:
        self.done(claimed)
        if entry.received_at is None and claimed.entry is not None:
            # the next step of the same delivery: its latency still runs from the webhook
            entry = entry.model_copy(update={"received_at": claimed.entry.received_at})
        self._follow_ups.append((f"{claimed.id}.n", entry))

    def later(self, claimed: Claimed, delay: float) -> None:
        assert claimed.entry is not None
        self._decide(claimed.id)
        self.settlement.retry(claimed.id, delay, claimed.entry)

    def alone(self, claimed: Claimed) -> None:
        assert claimed.entry is not None
        self._decide(claimed.id)
        self.settlement.retry(claimed.id, 0.0, claimed.entry, alone=True)

    def transient(
        self,
        claimed: Claimed,
        error: CrmError | str,
        *,
        alone: bool = False,
        give_up_after: float | None = None,
    ) -> None:
        """Retry after backoff; dead-letter once failures have lasted past the bound."""
        entry = claimed.entry
        assert entry is not None
        now = time.time()
        message = error.message if isinstance(error, CrmError) else error
        status = error.status if isinstance(error, CrmError) else None
        updated = entry.model_copy(
            update={
                "attempts": entry.attempts + 1,
                "first_failure_at": entry.first_failure_at or now,
                "last_error": message[:1000],
            }
        )
        bound = self.ctx.options.give_up_after if give_up_after is None else give_up_after
        if now - (updated.first_failure_at or now) >= bound:
            self._decide(claimed.id)
            self._letters.append(_Letter(claimed.id, updated, f"gave up: {message}", status))
            self.settlement.ack(claimed.id)
            return
        retry_after = error.retry_after if isinstance(error, TransientCrmError) else None
        delay = self.ctx.options.backoff.delay(updated.attempts, retry_after)
        self._decide(claimed.id)
        self.settlement.retry(claimed.id, delay, updated, alone=alone)

    def dead(self, claimed: Claimed, error: CrmError | str) -> None:
        message = error.message if isinstance(error, CrmError) else error
        status = error.status if isinstance(error, CrmError) else None
        entry = claimed.entry
        self._decide(claimed.id)
        if entry is not None:
            self._letters.append(_Letter(claimed.id, entry, message, status))
        self.settlement.ack(claimed.id)

    # -- whole-request outcomes ---------------------------------------------

    def request_failed(self, claimed: list[Claimed], error: CrmError) -> None:
        """A whole request failed: transient → all back with backoff; permanent → each
        row alone, to find the bad one (a lone row is dead-lettered); the key refused →
        the tenant pauses, and all wait for it without counting as failures."""
        record_crm_error(self.ctx.redis, error, self.ctx.ns)
        if isinstance(error, CrmKeyRefused):
            probe = self.ctx.options.key_probe
            # nobody of this tenant sends until the next probe; other tenants go on
            self.ctx.limiter.pause(probe)
            record_key_refused(self.ctx.redis, error, probe, self.ctx.ns)
            for c in claimed:
                self.later(c, probe)
        elif isinstance(error, CrmUnavailable):
            # no answer at all: the tenant's CRM is down or hanging. Its sends pause
            # (growing while it stays silent), so its requests stop holding the workers
            # that other tenants' deliveries need; the entries retry with backoff.
            self.ctx.limiter.pause(unanswered_pause(self.ctx.redis, self.ctx.ns))
            for c in claimed:
                self.transient(c, error)
        elif isinstance(error, TransientCrmError):
            for c in claimed:
                self.transient(c, error)
        elif len(claimed) > 1:
            for c in claimed:
                self.alone(c)
        else:
            for c in claimed:
                self.dead(c, error)

    def row_failed(self, claimed: Claimed, error: str | None) -> None:
        text = error or "the CRM reported a failure without a reason"
        record_crm_error(self.ctx.redis, text, self.ctx.ns)
        if row_error_is_transient(text):
            self.transient(claimed, text, alone=True)
        else:
            self.dead(claimed, text)

    # -- the end ------------------------------------------------------------

    def settle(self) -> None:
        """Write every decision; undecided entries go back as transient failures."""
        for claimed in self.pending():
            if claimed.entry is None:
                self.done(claimed)
            else:
                self.transient(claimed, "the worker stopped before deciding")
        if self._follow_ups:
            ids = [entry_id for entry_id, _ in self._follow_ups]
            self.ctx.outbox.add([entry for _, entry in self._follow_ups], ids=ids)
        for letter in self._letters:
            self.ctx.deadletters.put(
                command_letter(
                    letter.entry_id, letter.entry, letter.error, letter.status, self.ctx.tenant
                )
            )
            log.warning(
                "dead-lettered %s %s: %s",
                letter.entry.command.kind,
                letter.entry.command.external_id,
                scrub(letter.error),
            )
        self.ctx.outbox.settle(self.claim, self.settlement)
        self._count()
        self._trace()

    def _trace(self) -> None:
        """Events for `adapter tail` and `adapter trace`: delivered and refused entries."""
        refused = [(letter.entry, letter.error) for letter in self._letters]
        tracing.sent(self.ctx, self.claim.kind.value, self._delivered(), refused)

    def _delivered(self) -> list[Entry]:
        """The acknowledged entries that are in the CRM (not dead, not followed up)."""
        entries = {claimed.id: claimed.entry for claimed in self.claim.entries}
        not_delivered = {letter.entry_id for letter in self._letters}
        not_delivered.update(entry_id.removesuffix(".n") for entry_id, _ in self._follow_ups)
        return [
            e for i in self.settlement.acked if i not in not_delivered and (e := entries.get(i))
        ]

    def _count(self) -> None:
        """Metrics of the settled batch: entries by result, latency of the delivered."""
        delivered = self._delivered()
        arrived = [e.received_at for e in delivered if e.received_at]
        metrics.batch_settled(
            self.claim.kind.value,
            delivered=len(delivered),
            follow_up=len(self._follow_ups),
            retried=len(self.settlement.retried),
            dead_lettered=len(self._letters),
            arrived=arrived,
        )
