"""Dedupe + durable store: a verified delivery goes into the delivery ledger, or errors.

One Lua script (`adapter.ledger.scripts.INGEST`) writes the ledger record, its place
in `ready`, the indexes and the dedupe mark, the mark last and only when the rest
succeeded: a write that fails leaves no mark, so the provider's retry is stored
rather than answered "duplicate". Redis runs a script atomically, so concurrent
copies of one delivery (in this process or in others) make a single record.

Group commit: the concurrent requests of one process are written together. Requests
add themselves to `_pending`; one flusher task writes everything pending in one
script call, resolves each request's future, and goes again while more arrived
during the write.

The script also tells whether a take job must be enqueued (the ledger's bell flag was
free); then one RQ job `workers.jobs.take_deliveries` is enqueued with RQ's own
`enqueue_call`, in a thread (RQ's client is synchronous). That is rare under load: the
flag stays set until a worker starts the job. A bell that is lost costs time only:
every worker's pump rings while the ledger holds due deliveries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from adapter.ledger import bell, scripts
from adapter.ledger.keys import MARK_PREFIX, PREFIX, dedupe_key, digest_of, scope_of
from adapter.ledger.record import encode_delivery
from adapter.redis_connection import NO_TLS, TlsFiles, async_client, sync_client
from adapter.redis_safety import write_refusal
from adapter.sources.errors import QueueUnavailable
from adapter.webhook import WebhookDelivery

log = logging.getLogger(__name__)

SPAM_PREFIX = "adapter:spam:"
MAX_BATCH = 200

Outcome = Literal["queued", "duplicate"]


@dataclass(frozen=True)
class _Entry:
    digest: str
    args: tuple[Any, ...]


def _settle(batch: Sequence[tuple[_Entry, asyncio.Future[Outcome]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


def unavailable(exc: BaseException) -> QueueUnavailable:
    """The one place Redis failures become our error (503, the provider retries)."""
    log.warning("redis unavailable: %s", write_refusal(exc))
    return QueueUnavailable("queue unavailable, retry later")


def connect(url: str, tls: TlsFiles = NO_TLS) -> Redis:
    """An asyncio client that fails fast: a request waits seconds, never minutes, for Redis."""
    client: Redis = async_client(
        url,
        tls,
        socket_connect_timeout=2.0,
        socket_timeout=5.0,
        # one immediate reconnect covers a connection Redis closed while idle; the script
        # is safe to run twice, since the second run finds the first one's marks
        retry=Retry(NoBackoff(), 1),
    )
    return client


class Bell:
    """Enqueues take jobs for the web side, on a synchronous client of its own."""

    def __init__(self, url: str, tls: TlsFiles = NO_TLS) -> None:
        self._redis = sync_client(url, tls, socket_connect_timeout=2.0, socket_timeout=5.0)

    def ring(self) -> None:
        bell.enqueue_take(self._redis)

    def close(self) -> None:
        self._redis.close()


class Inbox:
    def __init__(
        self,
        redis: Redis,
        *,
        dedupe_ttl_seconds: int,
        bell: Bell | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._redis = redis
        self._ttl = dedupe_ttl_seconds
        self._bell = bell
        self._max_batch = max_batch
        self._script = redis.register_script(scripts.INGEST)
        self._pending: list[tuple[_Entry, asyncio.Future[Outcome]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._rings: set[asyncio.Future[None]] = set()

    @property
    def redis(self) -> Redis:
        return self._redis

    def _entry(self, delivery: WebhookDelivery, payload_json: bytes | None) -> _Entry:
        digest = digest_of(dedupe_key(delivery))
        body = encode_delivery(delivery, payload_json)
        size = len(payload_json) if payload_json is not None else len(body)
        received_ms = int(delivery.received_at.timestamp() * 1000)
        args = (
            digest,
            delivery.source,
            delivery.topic,
            scope_of(delivery),
            delivery.delivery_id,
            received_ms,
            size,
            body,
        )
        return _Entry(digest, args)

    async def put(self, delivery: WebhookDelivery, payload_json: bytes | None = None) -> Outcome:
        """Store the delivery once: "queued" the first time, "duplicate" after that.

        `payload_json`, when given, is the JSON text `delivery.payload` was parsed from
        (a verified body): it is stored as it came instead of serialized again.
        Raises QueueUnavailable when Redis did not take it; then no mark is left.
        """
        entry = self._entry(delivery, payload_json)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                outcomes = await self._write([entry for entry, _ in batch])
            except (RedisError, OSError) as exc:
                _settle(batch, unavailable(exc))
                continue
            except BaseException as exc:
                # a bug, or cancelled at shutdown: no request may wait forever
                _settle(batch, exc)
                _settle(self._pending, QueueUnavailable("shutting down, retry later"))
                self._pending.clear()
                raise
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _write(self, entries: Sequence[_Entry]) -> list[Outcome | QueueUnavailable]:
        bell_ttl = int(bell.BELL_TTL_SECONDS * 1000) if self._bell is not None else 0
        args: list[Any] = [PREFIX, MARK_PREFIX, self._ttl, bell_ttl]
        for entry in entries:
            args.extend(entry.args)
        reply = await self._script(args=args)
        codes, ring, errors = reply[0].decode("ascii"), int(reply[1]), iter(reply[2:])
        if ring:
            self._ring()
        outcomes: list[Outcome | QueueUnavailable] = []
        for entry, code in zip(entries, codes, strict=True):
            if code == "q":
                outcomes.append("queued")
            elif code == "d":
                outcomes.append("duplicate")
            else:
                text = next(errors).decode("utf-8", "replace")
                refusal = write_refusal(text)
                log.error("store of delivery %s failed in redis: %s", entry.digest[:12], refusal)
                outcomes.append(QueueUnavailable("queue write failed, retry later"))
        return outcomes

    def _ring(self) -> None:
        if self._bell is None:
            return
        started = time.monotonic()
        ring = asyncio.get_running_loop().run_in_executor(None, self._bell.ring)
        self._rings.add(ring)

        def done(future: asyncio.Future[None]) -> None:
            self._rings.discard(future)
            if not future.cancelled() and future.exception() is not None:
                # the deliveries are stored; the workers' pumps ring for them
                log.warning(
                    "could not enqueue a take job (%s after %.1fs); the workers will find "
                    "the deliveries by themselves",
                    type(future.exception()).__name__,
                    time.monotonic() - started,
                )

        ring.add_done_callback(done)

    async def count_spam(self, form_id: str) -> None:
        """Count a honeypot hit; the delivery itself is dropped."""
        try:
            await self._redis.incr(SPAM_PREFIX + form_id)
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from exc

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        """Let pending deliveries finish, then close the connections."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._rings:
            await asyncio.gather(*self._rings, return_exceptions=True)
        await self._redis.aclose()
        if self._bell is not None:
            self._bell.close()
