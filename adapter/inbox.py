"""Dedupe + durable enqueue: a delivery becomes exactly one RQ job, or an error.

The dedupe mark and the job are written by ONE Lua script, the mark last and only when
the job's writes succeeded: an enqueue that fails leaves no mark, so the provider's
retry is queued rather than answered "duplicate". Redis runs a script atomically, so
concurrent copies of one delivery (in this process or in others) make a single job.

Group commit: the concurrent requests of one process are written together. Requests
add themselves to `_pending`; one flusher task writes everything pending in one
script call, resolves each request's future, and goes again while more arrived
during the write.

The job's Redis writes are RQ's own: `enqueue_call(pipeline=...)` runs once per Inbox
against a recorder that stands in for the pipeline, for a placeholder job. With a
pipeline given and no dependencies or rate limit, RQ 2/3 only issues SADD rq:queues,
HSET (status), HSET (job hash) and RPUSH (queue) on it; it never executes or reads
through the pipeline, and the recorder refuses any other command. Those commands
become a template in which only the job id, the description, the call data and the
two timestamps change per delivery: RQ's Python (job object, uuid, datetimes, dumps,
compression at level 6) would otherwise cost several times the rest of the request.
The call data is compressed at level 1, and a verified JSON body is quoted into it as
it came rather than serialized again from the parsed payload.
The template checks itself against a second recording when it is built, and the tests
compare it with RQ's output and run its jobs with a real RQ worker, so an RQ that
changes its layout fails loudly rather than writing jobs its workers misread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.commands.core import DataAccessCommands
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.serializers import JSONSerializer
from rq.utils import utcformat, utcparse

from adapter.redis_connection import NO_TLS, TlsFiles, async_client
from adapter.redis_safety import write_refusal
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
# Reply: one string with a letter per delivery (q queued, d duplicate, e error), then
# the errors' texts in order (one reply element per delivery costs the client more).
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
local codes, errors = {}, {}
for i, mark in ipairs(KEYS) do
  local job_id = ARGV[2 * i]
  if redis.call('EXISTS', mark) == 1 then
    codes[i] = 'd'
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
    if failed == nil then
      codes[i] = 'q'
    else
      codes[i] = 'e'
      errors[#errors + 1] = failed
    end
  end
end
table.insert(errors, 1, table.concat(codes))
return errors
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
        for arg in map(_arg_bytes, command):
            parts += (_U32.pack(len(arg)), arg)
    return b"".join(parts)


# the fields of RQ's job hash whose values differ from job to job; the job id also
# appears inside other arguments (the job's key, the queue entry)
_SLOT_FIELDS = ("created_at", "data", "description", "enqueued_at")
_JOB_ID = "job_id"
# any level decompresses the same; 1 costs half of RQ's 6 for ~10% more bytes
_DATA_LEVEL = 1

# one argument that varies: its bytes before the value, the slot's name, its bytes after,
# then the frame's constant bytes up to the next such argument
_Slot = tuple[bytes, str, bytes, bytes]


class TemplateError(RuntimeError):
    """RQ's job layout is not the one this module was written for."""


def _record(
    queue: Queue, function: str, job_id: str, description: str, args: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    recorder = _Recorder()
    queue.enqueue_call(
        function,
        args=args,
        job_id=job_id,
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=FAILURE_TTL_SECONDS,
        description=description,
        pipeline=cast(Any, recorder),
    )
    return recorder.commands


def _compile(
    commands: Sequence[tuple[Any, ...]], job_id: str
) -> tuple[bytes, list[_Slot], dict[str, bytes]]:
    """The frame of `commands` cut at its varying arguments, and those arguments' values."""
    marker = job_id.encode("ascii")
    pieces: list[bytes | tuple[bytes, str, bytes]] = []
    values: dict[str, bytes] = {}
    for command in commands:
        pieces.append(_U32.pack(len(command)))
        encoded = [_arg_bytes(arg) for arg in command]
        for index, arg in enumerate(encoded):
            # HSET key field value field value ...: values sit at odd indexes from 3
            is_value = command[0] == "HSET" and index >= 3 and index % 2 == 1
            field = encoded[index - 1].decode() if is_value else ""
            if field in _SLOT_FIELDS:
                if field in values:
                    raise TemplateError(f"RQ writes the job field {field} twice")
                values[field] = arg
                pieces.append((b"", field, b""))
            elif marker in arg:
                before, _, after = arg.partition(marker)
                if marker in after:
                    raise TemplateError("RQ writes the job id twice in one argument")
                values[_JOB_ID] = marker
                pieces.append((before, _JOB_ID, after))
            else:
                pieces.append(_U32.pack(len(arg)) + arg)
    missing = {*_SLOT_FIELDS, _JOB_ID} - values.keys()
    if missing:
        raise TemplateError(f"RQ no longer writes {', '.join(sorted(missing))}")
    # the constant bytes before the first varying argument, then after each one
    segments: list[list[bytes]] = [[]]
    varying: list[tuple[bytes, str, bytes]] = []
    for piece in pieces:
        if isinstance(piece, bytes):
            segments[-1].append(piece)
        else:
            varying.append(piece)
            segments.append([])
    constants = [b"".join(segment) for segment in segments]
    slots = [(*slot, tail) for slot, tail in zip(varying, constants[1:], strict=True)]
    return constants[0], slots, values


class JobTemplate:
    """The frame of RQ's writes for one job of `function` on `queue`, recorded once.

    `render` fills in one job's id, description, call data and timestamps; `call` and
    `call_with_json` make the call data. It checks itself when built: a second
    recording, for other values, must equal the template filled in with that
    recording's values byte for byte, and the call data must be what RQ's serializer
    makes of the call (RQ stores it compressed with zlib).
    """

    def __init__(self, queue: Queue, function: str) -> None:
        self._function = function
        self._dumps = queue.serializer.dumps
        self._call_head, self._call_tail = self._call_around_argument(queue.serializer.loads)
        args: tuple[Any, ...] = ({"probe": "a"},)
        commands = _record(queue, function, "dlv-template-a", "template a", args)
        self._head, self._slots, values = _compile(commands, "dlv-template-a")
        self._check(values, "template a", args)
        args = ({"probe": ["b", 2]},)
        commands = _record(queue, function, "dlv-template-b", "template b", args)
        _, _, values = _compile(commands, "dlv-template-b")
        self._check(values, "template b", args)
        if self._fill(values) != _frame(commands):
            raise TemplateError("RQ writes values that differ from job to job")

    def _check(self, values: dict[str, bytes], description: str, args: tuple[Any, ...]) -> None:
        if values["description"] != description.encode():
            raise TemplateError("RQ changes the description it is given")
        if zlib.decompress(values["data"]) != self._dumps((self._function, None, args, {})):
            raise TemplateError("RQ serializes the call differently")
        for field in ("created_at", "enqueued_at"):
            text = values[field].decode()
            if utcformat(utcparse(text)) != text:
                raise TemplateError(f"RQ formats {field} differently")

    def _fill(self, values: dict[str, bytes]) -> bytes:
        parts = [self._head]
        for before, slot, after, tail in self._slots:
            value = values[slot]
            parts += (_U32.pack(len(before) + len(value) + len(after)), before, value, after, tail)
        return b"".join(parts)

    def _call_around_argument(self, loads: Callable[[bytes], Any]) -> tuple[bytes, bytes]:
        """What the serializer writes before and after the one argument of a call."""
        marker = "\x00argument\x00"
        head, *tail = self.call((marker,)).split(self._dumps(marker))
        probe = {"probe": [1.5, None, "é"]}
        expected = loads(self.call((probe,)))
        if len(tail) != 1 or loads(head + self._dumps(probe) + tail[0]) != expected:
            raise TemplateError("RQ's serializer does not write the call as JSON")
        return head, tail[0]

    def call(self, args: tuple[Any, ...]) -> bytes:
        """The call `function(*args)` as RQ's serializer writes it, before compression."""
        return self._dumps((self._function, None, args, {}))

    def call_with_json(self, argument: bytes) -> bytes:
        """The call `function(argument)` for an argument given as JSON text, which RQ's
        JSON serializer reads back as that value."""
        return self._call_head + argument + self._call_tail

    def render(self, job_id: str, description: str, call: bytes, at: datetime) -> bytes:
        """The frame of RQ's commands that enqueue `call` (from `call()`) as job `job_id`,
        created and enqueued `at`."""
        timestamp = utcformat(at).encode("ascii")
        return self._fill(
            {
                _JOB_ID: job_id.encode("ascii"),
                "description": description.encode("utf-8"),
                "data": zlib.compress(call, _DATA_LEVEL),
                "created_at": timestamp,
                "enqueued_at": timestamp,
            }
        )


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


class Inbox:
    def __init__(
        self,
        redis: Redis,
        *,
        dedupe_ttl_seconds: int,
        queue_name: str = QUEUE_NAME,
        job_function: str = JOB_FUNCTION,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._redis = redis
        self._ttl = dedupe_ttl_seconds
        self._max_batch = max_batch
        self._script = redis.register_script(_WRITE_SCRIPT)
        queue = Queue(queue_name, connection=cast(Any, _NoConnection()), serializer=JSONSerializer)
        # RQ would otherwise ask the server through the connection; it is not persisted
        queue.redis_server_version = (7, 0, 0)
        self._template = JobTemplate(queue, job_function)
        self._pending: list[tuple[_Entry, asyncio.Future[Outcome]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def redis(self) -> Redis:
        return self._redis

    def _call(self, delivery: WebhookDelivery, payload_json: bytes | None) -> bytes:
        """The job's call, its argument equal to delivery.model_dump(mode="json")."""
        if payload_json is None:
            # the payload is parsed JSON (or form fields) already: dumping it again
            # would only copy it
            argument = delivery.model_dump(mode="json", exclude={"payload"})
            argument["payload"] = delivery.payload
            return self._template.call((argument,))
        # pydantic writes the rest as JSON, and the payload's JSON is quoted as it came:
        # the body is neither parsed nor serialized again in Python
        rest = delivery.model_dump_json(exclude={"payload"}).encode("utf-8")
        return self._template.call_with_json(rest[:-1] + b',"payload":' + payload_json + b"}")

    def _entry(self, delivery: WebhookDelivery, payload_json: bytes | None) -> _Entry:
        digest = _digest(dedupe_key(delivery))
        job_id = _job_id(digest)
        call = self._call(delivery, payload_json)
        description = f"{delivery.source} {delivery.topic}"
        frame = self._template.render(job_id, description, call, datetime.now(UTC))
        return _Entry(mark=_mark_key(digest), job_id=job_id, frame=frame)

    async def put(self, delivery: WebhookDelivery, payload_json: bytes | None = None) -> Outcome:
        """Queue the delivery once: "queued" the first time, "duplicate" after that.

        `payload_json`, when given, is the JSON text `delivery.payload` was parsed from
        (a verified body): the job quotes it instead of serializing the payload again.
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
        args: list[Any] = [self._ttl]
        for entry in entries:
            args.append(entry.job_id)
            args.append(entry.frame)
        reply = await self._script(keys=[entry.mark for entry in entries], args=args)
        codes, errors = reply[0].decode("ascii"), iter(reply[1:])
        outcomes: list[Outcome | QueueUnavailable] = []
        for entry, code in zip(entries, codes, strict=True):
            if code == "q":
                outcomes.append("queued")
            elif code == "d":
                outcomes.append("duplicate")
            else:
                text = next(errors).decode("utf-8", "replace")
                log.error("enqueue of job %s failed: %s", entry.job_id, write_refusal(text))
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
