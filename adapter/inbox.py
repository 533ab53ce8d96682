"""Dedupe + durable enqueue: a delivery becomes exactly one RQ job, or an error.

The dedupe mark and the job are written by ONE Lua script, the mark last and only when
the job's writes succeeded: an enqueue that fails leaves no mark, so the provider's
retry is queued rather than answered "duplicate". Redis runs a script atomically, so
concurrent copies of one delivery (in this process or in others) make a single job.

Group commit: the concurrent requests of one process are written together. Requests
add themselves to `_pending`; one flusher task writes everything pending in one
script call, resolves each request's future, and goes again while more arrived
during the write.

The job itself is built by RQ's own API (`enqueue_call(pipeline=...)`) against a
recorder that stands in for the pipeline. With a pipeline given and no dependencies
or rate limit, RQ 2/3 only issues SADD rq:queues, HSET (status), HSET (job hash) and
RPUSH (queue) on it; it never executes or reads through the pipeline. The recorder
refuses any other command, so a future RQ that changes this fails loudly in tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.commands.core import DataAccessCommands
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.serializers import JSONSerializer

from adapter.sources.errors import QueueUnavailable
from adapter.webhook import WebhookDelivery

log = logging.getLogger(__name__)

QUEUE_NAME = "deliveries"
JOB_FUNCTION = "workers.jobs.process_delivery"
RESULT_TTL_SECONDS = 3600
FAILURE_TTL_SECONDS = 30 * 24 * 3600
MARK_PREFIX = "adapter:dedupe:"
SPAM_PREFIX = "adapter:spam:"
MAX_BATCH = 200

Outcome = Literal["queued", "duplicate"]

# KEYS: one dedupe mark per delivery. ARGV: the mark ttl, then per delivery its job id
# and its RQ commands framed in one string (one argument per command would make the
# client encode ~50 arguments per delivery, a large share of the request's CPU).
# Frame: per command a big-endian uint32 argument count, then per argument a uint32
# length and the bytes, read by Redis's built-in `struct` library.
_WRITE_SCRIPT = """
local function commands_of(frame)
  local commands, pos, size = {}, 1, #frame
  while pos <= size do
    local argc
    argc, pos = struct.unpack('>I4', frame, pos)
    local command = {}
    for a = 1, argc do
      command[a], pos = struct.unpack('>I4c0', frame, pos)
    end
    commands[#commands + 1] = command
  end
  return commands
end

local ttl = ARGV[1]
local outcomes = {}
for i, mark in ipairs(KEYS) do
  local job_id = ARGV[2 * i]
  if redis.call('EXISTS', mark) == 1 then
    outcomes[i] = 'duplicate'
  else
    local failed = nil
    for _, command in ipairs(commands_of(ARGV[2 * i + 1])) do
      local reply = redis.pcall(unpack(command))
      if type(reply) == 'table' and reply.err then
        failed = reply.err
        break
      end
    end
    if failed == nil then
      local reply = redis.pcall('SET', mark, job_id, 'EX', ttl)
      if type(reply) == 'table' and reply.err then failed = reply.err end
    end
    if failed == nil then outcomes[i] = 'queued' else outcomes[i] = 'error: ' .. failed end
  end
end
return outcomes
"""

_RQ_WRITES = frozenset({"SADD", "HSET", "RPUSH", "LPUSH", "EXPIRE"})


def dedupe_key(delivery: WebhookDelivery) -> str:
    """The delivery's identity, namespaced by source and by shop or form."""
    scope = delivery.shop_domain or delivery.form_id or "-"
    return f"{delivery.source}:{scope}:{delivery.delivery_id}"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def job_id_for(key: str) -> str:
    # RQ job ids allow only [A-Za-z0-9_-]; the hash also bounds the length
    return _job_id(_digest(key))


def mark_key_for(key: str) -> str:
    return _mark_key(_digest(key))


def _job_id(digest: str) -> str:
    return "dlv-" + digest[:40]


def _mark_key(digest: str) -> str:
    return MARK_PREFIX + digest


class _NoConnection:
    """RQ's Queue and Job want a connection; ours must never be used outside the script."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"RQ used its connection ({name}) while enqueueing on a pipeline")


class _Recorder(DataAccessCommands):
    """Takes a pipeline's place for RQ: records its writes instead of sending them."""

    explicit_transaction = True
    _event_dispatcher: Any = None

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    def multi(self) -> None:
        """RQ puts a caller's pipeline in MULTI mode; the script is atomic already."""

    def execute_command(self, *args: Any, **options: Any) -> _Recorder:
        if args[0] not in _RQ_WRITES or options:
            raise RuntimeError(f"unexpected Redis command from RQ: {args[0]}")
        self.commands.append(args)
        return self


def _arg_bytes(value: Any) -> bytes:
    # what redis-py's encoder would send for the same argument
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value)).encode("ascii")
    if isinstance(value, float):
        return repr(value).encode("ascii")
    raise TypeError(f"cannot send {type(value).__name__} to Redis")


_U32 = struct.Struct(">I")


def _frame(commands: Sequence[tuple[Any, ...]]) -> bytes:
    parts: list[bytes] = []
    for command in commands:
        parts.append(_U32.pack(len(command)))
        for arg in command:
            # exact-type fast paths: this runs ~50 times per delivery
            if type(arg) is str:
                encoded = arg.encode("utf-8")
            elif type(arg) is bytes:
                encoded = arg
            else:
                encoded = _arg_bytes(arg)
            parts.append(_U32.pack(len(encoded)))
            parts.append(encoded)
    return b"".join(parts)


@dataclass(frozen=True)
class _Entry:
    mark: str
    job_id: str
    frame: bytes


def _settle(batch: Sequence[tuple[_Entry, asyncio.Future[Outcome]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


def unavailable(exc: BaseException) -> QueueUnavailable:
    """The one place Redis failures become our error (503, the provider retries)."""
    log.warning("redis unavailable: %s", type(exc).__name__)
    return QueueUnavailable("queue unavailable, retry later")


def connect(url: str) -> Redis:
    """An asyncio client that fails fast: a request waits seconds, never minutes, for Redis."""
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=5.0,
        # one immediate reconnect covers a connection Redis closed while idle; the script
        # is safe to run twice, since the second run finds the first one's marks
        retry=Retry(NoBackoff(), 1),
    )
    return client


class Inbox:
    def __init__(
        self,
        redis: Redis,
        *,
        dedupe_ttl_seconds: int,
        queue_name: str = QUEUE_NAME,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._redis = redis
        self._ttl = dedupe_ttl_seconds
        self._max_batch = max_batch
        self._script = redis.register_script(_WRITE_SCRIPT)
        self._queue = Queue(
            queue_name, connection=cast(Any, _NoConnection()), serializer=JSONSerializer
        )
        # RQ would otherwise ask the server through the connection; it is not persisted
        self._queue.redis_server_version = (7, 0, 0)
        self._pending: list[tuple[_Entry, asyncio.Future[Outcome]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def redis(self) -> Redis:
        return self._redis

    def _entry(self, delivery: WebhookDelivery) -> _Entry:
        digest = _digest(dedupe_key(delivery))
        job_id = _job_id(digest)
        recorder = _Recorder()
        # the payload is parsed JSON (or form fields) already: dumping it again would
        # only copy it; the result equals delivery.model_dump(mode="json")
        argument = delivery.model_dump(mode="json", exclude={"payload"})
        argument["payload"] = delivery.payload
        self._queue.enqueue_call(
            JOB_FUNCTION,
            args=(argument,),
            job_id=job_id,
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
            description=f"{delivery.source} {delivery.topic}",
            pipeline=cast(Any, recorder),
        )
        return _Entry(mark=_mark_key(digest), job_id=job_id, frame=_frame(recorder.commands))

    async def put(self, delivery: WebhookDelivery) -> Outcome:
        """Queue the delivery once: "queued" the first time, "duplicate" after that.

        Raises QueueUnavailable when Redis did not take it; then no mark is left.
        """
        entry = self._entry(delivery)
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
        args: list[Any] = [self._ttl]
        for entry in entries:
            args.append(entry.job_id)
            args.append(entry.frame)
        replies = await self._script(keys=[entry.mark for entry in entries], args=args)
        outcomes: list[Outcome | QueueUnavailable] = []
        for entry, reply in zip(entries, replies, strict=True):
            text = reply.decode() if isinstance(reply, bytes) else str(reply)
            if text == "queued":
                outcomes.append("queued")
            elif text == "duplicate":
                outcomes.append("duplicate")
            else:
                log.error("enqueue of job %s failed in redis: %s", entry.job_id, text)
                outcomes.append(QueueUnavailable("queue write failed, retry later"))
        return outcomes

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
        await self._redis.aclose()
