from __future__ import annotations

import asyncio
import json
import re
import struct
import uuid
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
import redis
import rq.job
import rq.queue
from redis.connection import Encoder
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import import_attribute, utcparse

from adapter.inbox import (
    FAILURE_TTL_SECONDS,
    JOB_FUNCTION,
    QUEUE_NAME,
    RESULT_TTL_SECONDS,
    SPAM_PREFIX,
    Inbox,
    TemplateError,
    connect,
    dedupe_key,
    job_id_for,
    mark_key_for,
)
from adapter.sources.errors import QueueUnavailable
from adapter.webhook import WebhookDelivery
from tests.support.processes import free_port

TTL = 7 * 24 * 3600
T = TypeVar("T")


def delivery(delivery_id: str = "wh-1", shop: str = "store.myshopify.com") -> WebhookDelivery:
    return WebhookDelivery(
        source="shopify",
        topic="orders/create",
        delivery_id=delivery_id,
        received_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        shop_domain=shop,
        headers={"X-Shopify-Topic": "orders/create"},
        payload={"id": 820982911946154508, "email": "ada@example.com", "tags": "Überraschung"},
    )


def with_inbox(url: str, use: Callable[[Inbox], Awaitable[T]]) -> T:
    async def main() -> T:
        inbox = Inbox(connect(url), dedupe_ttl_seconds=TTL)
        try:
            return await use(inbox)
        finally:
            await inbox.aclose()

    return asyncio.run(main())


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def queue(client: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=client, serializer=JSONSerializer)


def test_new_delivery_becomes_one_rq_job_with_json_payload(
    redis_url: str, client: redis.Redis
) -> None:
    item = delivery()
    assert with_inbox(redis_url, lambda inbox: inbox.put(item)) == "queued"
    job_ids = queue(client).job_ids
    assert job_ids == [job_id_for(dedupe_key(item))]
    job = Job.fetch(job_ids[0], connection=client, serializer=JSONSerializer)
    assert job.func_name == JOB_FUNCTION
    assert list(job.args) == [item.model_dump(mode="json")]
    assert job.get_status() == JobStatus.QUEUED
    assert job.failure_ttl == FAILURE_TTL_SECONDS
    assert job.result_ttl is not None
    assert job.result_ttl < FAILURE_TTL_SECONDS


def test_job_is_stored_as_json_never_pickle(redis_url: str, client: redis.Redis) -> None:
    item = delivery()
    with_inbox(redis_url, lambda inbox: inbox.put(item))
    job = Job.fetch(queue(client).job_ids[0], connection=client)
    assert job.data.startswith(b'["workers.jobs.process_delivery"')


def test_job_id_uses_only_rq_safe_characters() -> None:
    key = dedupe_key(delivery("wh/ä:1 2"))
    assert re.fullmatch(r"dlv-[0-9a-f]{40}", job_id_for(key))


def test_same_delivery_again_is_duplicate(redis_url: str, client: redis.Redis) -> None:
    async def twice(inbox: Inbox) -> list[str]:
        return [await inbox.put(delivery()), await inbox.put(delivery())]

    assert with_inbox(redis_url, twice) == ["queued", "duplicate"]
    assert len(queue(client).job_ids) == 1


def test_mark_lives_for_the_dedupe_ttl(redis_url: str, client: redis.Redis) -> None:
    with_inbox(redis_url, lambda inbox: inbox.put(delivery()))
    ttl = client.ttl(mark_key_for(dedupe_key(delivery())))
    assert TTL - 60 < ttl <= TTL


def test_same_delivery_id_from_two_shops_is_two_jobs(redis_url: str, client: redis.Redis) -> None:
    async def both(inbox: Inbox) -> list[str]:
        return [await inbox.put(delivery(shop="a.myshopify.com")), await inbox.put(delivery())]

    assert with_inbox(redis_url, both) == ["queued", "queued"]
    assert len(queue(client).job_ids) == 2


def test_two_copies_in_one_group_queue_once(redis_url: str, client: redis.Redis) -> None:
    async def together(inbox: Inbox) -> list[str]:
        return list(await asyncio.gather(inbox.put(delivery()), inbox.put(delivery())))

    assert sorted(with_inbox(redis_url, together)) == ["duplicate", "queued"]
    assert len(queue(client).job_ids) == 1


def test_fifty_concurrent_copies_make_exactly_one_job(redis_url: str, client: redis.Redis) -> None:
    async def fifty(inbox: Inbox) -> list[str]:
        return list(await asyncio.gather(*(inbox.put(delivery()) for _ in range(50))))

    outcomes = with_inbox(redis_url, fifty)
    assert outcomes.count("queued") == 1
    assert outcomes.count("duplicate") == 49
    assert len(queue(client).job_ids) == 1


def evalsha_calls(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def test_concurrent_deliveries_are_written_in_a_few_round_trips(
    redis_url: str, client: redis.Redis
) -> None:
    async def hundred(inbox: Inbox) -> list[str]:
        return list(await asyncio.gather(*(inbox.put(delivery(f"wh-{i}")) for i in range(100))))

    before = evalsha_calls(client)
    assert set(with_inbox(redis_url, hundred)) == {"queued"}
    assert evalsha_calls(client) - before <= 3
    assert len(queue(client).job_ids) == 100


def test_failed_enqueue_leaves_no_mark_and_the_retry_is_queued(
    redis_url: str, client: redis.Redis
) -> None:
    # a queue key of the wrong type makes RPUSH fail inside the write
    client.set(f"rq:queue:{QUEUE_NAME}", "not a list")
    with pytest.raises(QueueUnavailable):
        with_inbox(redis_url, lambda inbox: inbox.put(delivery()))
    assert not client.exists(mark_key_for(dedupe_key(delivery())))

    client.delete(f"rq:queue:{QUEUE_NAME}")
    assert with_inbox(redis_url, lambda inbox: inbox.put(delivery())) == "queued"
    assert len(queue(client).job_ids) == 1


def test_failure_of_one_delivery_does_not_fail_its_group(
    redis_url: str, client: redis.Redis
) -> None:
    bad = delivery("wh-bad")
    client.set(f"rq:job:{job_id_for(dedupe_key(bad))}", "not a hash")

    async def together(inbox: Inbox) -> list[Any]:
        return list(
            await asyncio.gather(inbox.put(delivery()), inbox.put(bad), return_exceptions=True)
        )

    good_outcome, bad_outcome = with_inbox(redis_url, together)
    assert good_outcome == "queued"
    assert isinstance(bad_outcome, QueueUnavailable)
    assert not client.exists(mark_key_for(dedupe_key(bad)))


def test_unreachable_redis_is_queue_unavailable() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(QueueUnavailable):
        with_inbox(url, lambda inbox: inbox.put(delivery()))


def test_spam_is_counted_per_form(redis_url: str, client: redis.Redis) -> None:
    async def twice(inbox: Inbox) -> None:
        await inbox.count_spam("contact")
        await inbox.count_spam("contact")

    with_inbox(redis_url, twice)
    assert client.get(SPAM_PREFIX + "contact") == b"2"


def test_ping_reports_whether_redis_answers(redis_url: str) -> None:
    assert with_inbox(redis_url, lambda inbox: inbox.ping()) is True
    assert with_inbox(f"redis://127.0.0.1:{free_port()}/0", lambda inbox: inbox.ping()) is False


# --- the job template: what RQ's own enqueue_call writes, and what RQ's worker runs ---

ECHO_FUNCTION = "tests.test_inbox.echo_delivery"


def echo_delivery(delivery: dict[str, Any]) -> dict[str, Any]:
    """The job function of the worker tests: hands its argument back as the result."""
    return delivery


def samples() -> list[tuple[WebhookDelivery, bytes | None]]:
    """Deliveries of each source, with the body their payload was parsed from, or None."""
    body = (
        b'{ "id" : 12345678901234567890,\n  "note": "Zo\xc3\xab \\u00e9 \\ud83d\\ude00",'
        b' "price": 1.50, "tags": [null, true, {"nested": []}] }'
    )
    stripe_body = b'{"id":"evt_1","type":"customer.created","data":{"object":{"email":null}}}'
    form = WebhookDelivery(
        source="form",
        topic="kontakt-ü",
        delivery_id="sha256:" + "0" * 64,
        received_at=datetime(2026, 11, 28, 23, 59, 59, 999999, tzinfo=UTC),
        form_id="kontakt-ü",
        payload={"email": "ada@example.com", "message": 'Grüße\n"hi"', "website": ""},
    )
    return [
        (delivery(), None),
        (
            delivery("wh-2").model_copy(
                update={
                    "payload": json.loads(body),
                    "headers": {"X-Shopify-Topic": "orders/create", "X-Shopify-Event-Id": "ÿ"},
                }
            ),
            body,
        ),
        (
            WebhookDelivery(
                source="stripe",
                topic="customer.created",
                delivery_id="evt_1",
                received_at=datetime(2026, 11, 28, 12, 0, 0, 1, tzinfo=UTC),
                payload=json.loads(stripe_body),
            ),
            stripe_body,
        ),
        (form, None),
    ]


def commands_in(frame: bytes) -> list[list[bytes]]:
    """The commands in an entry's frame (the write script's format)."""
    commands, pos = [], 0
    while pos < len(frame):
        (argc,), pos = struct.unpack_from(">I", frame, pos), pos + 4
        command = []
        for _ in range(argc):
            (size,), pos = struct.unpack_from(">I", frame, pos), pos + 4
            command.append(frame[pos : pos + size])
            pos += size
        commands.append(command)
    return commands


def rq_commands(item: WebhookDelivery, at: datetime) -> list[list[bytes]]:
    """What RQ's enqueue_call writes for the delivery on a real pipeline, RQ's clock at `at`."""
    connection = redis.Redis(port=free_port())  # never connected: the pipeline only records
    reference = Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)
    reference.redis_server_version = (7, 0, 0)
    pipeline = connection.pipeline()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rq.job, "now", lambda: at)
        patch.setattr(rq.queue, "now", lambda: at)
        reference.enqueue_call(
            JOB_FUNCTION,
            args=(item.model_dump(mode="json"),),
            job_id=job_id_for(dedupe_key(item)),
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
            description=f"{item.source} {item.topic}",
            pipeline=pipeline,
        )
    encoder = Encoder("utf-8", "strict", False)
    return [[encoder.encode(arg) for arg in args] for args, _ in pipeline.command_stack]


def job_field(commands: list[list[bytes]], name: bytes) -> bytes:
    """A field's value in the HSET commands of the job hash."""
    for command in commands:
        if command[0] == b"HSET":
            fields = dict(zip(command[2::2], command[3::2], strict=True))
            if name in fields:
                return fields[name]
    raise AssertionError(f"no HSET writes {name!r}")


def readable(commands: list[list[bytes]]) -> list[list[Any]]:
    """The commands with the job's call data decompressed and parsed, the rest as bytes."""
    out: list[list[Any]] = []
    for command in commands:
        shown: list[Any] = list(command)
        for index in range(3, len(command), 2):
            if command[0] == b"HSET" and command[index - 1] == b"data":
                shown[index] = JSONSerializer.loads(zlib.decompress(command[index]))
        out.append(shown)
    return out


async def entries(items: list[tuple[WebhookDelivery, bytes | None]]) -> list[bytes]:
    inbox = Inbox(connect(f"redis://127.0.0.1:{free_port()}/0"), dedupe_ttl_seconds=TTL)
    try:
        return [inbox._entry(item, body).frame for item, body in items]
    finally:
        await inbox.aclose()


@pytest.mark.parametrize("index", range(len(samples())))
def test_template_writes_the_commands_rq_enqueue_call_writes(index: int) -> None:
    item, body = samples()[index]
    ours = commands_in(asyncio.run(entries([(item, body)]))[0])
    theirs = rq_commands(item, utcparse(job_field(ours, b"created_at").decode()))
    # field by field; the call data is compressed at another level, so compared as read
    assert readable(ours) == readable(theirs)
    if body is None:
        # written by RQ's own serializer: the same bytes before compression
        data = [zlib.decompress(job_field(commands, b"data")) for commands in (ours, theirs)]
        assert data[0] == data[1]


@pytest.mark.slow
def test_jobs_written_by_the_template_run_on_a_real_rq_worker(
    redis_url: str, client: redis.Redis
) -> None:
    items = samples()

    async def put_all(inbox: Inbox) -> list[str]:
        return [await inbox.put(item, payload_json=body) for item, body in items]

    async def main() -> list[str]:
        inbox = Inbox(connect(redis_url), dedupe_ttl_seconds=TTL, job_function=ECHO_FUNCTION)
        try:
            return await put_all(inbox)
        finally:
            await inbox.aclose()

    assert asyncio.run(main()) == ["queued"] * len(items)
    worker = SimpleWorker([queue(client)], connection=client, serializer=JSONSerializer)
    assert worker.work(burst=True)
    for item, _ in items:
        job = Job.fetch(job_id_for(dedupe_key(item)), connection=client, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.FINISHED
        assert list(job.args) == [item.model_dump(mode="json")]
        assert job.return_value() == item.model_dump(mode="json")
        assert WebhookDelivery.model_validate(job.args[0]) == item


def test_production_job_function_resolves() -> None:
    assert callable(import_attribute(JOB_FUNCTION))


def test_template_refuses_an_rq_that_writes_a_value_of_its_own_per_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    to_dict = Job.to_dict

    def with_nonce(self: Job, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**to_dict(self, *args, **kwargs), "nonce": uuid.uuid4().hex}

    monkeypatch.setattr(Job, "to_dict", with_nonce)
    with pytest.raises(TemplateError):
        Inbox(connect(f"redis://127.0.0.1:{free_port()}/0"), dedupe_ttl_seconds=TTL)


def test_template_refuses_an_rq_without_a_field_it_fills_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    to_dict = Job.to_dict

    def without_enqueued_at(self: Job, *args: Any, **kwargs: Any) -> dict[str, Any]:
        fields = to_dict(self, *args, **kwargs)
        del fields["enqueued_at"]
        return fields

    monkeypatch.setattr(Job, "to_dict", without_enqueued_at)
    with pytest.raises(TemplateError):
        Inbox(connect(f"redis://127.0.0.1:{free_port()}/0"), dedupe_ttl_seconds=TTL)
