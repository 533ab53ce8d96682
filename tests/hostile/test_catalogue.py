"""Hostile input against `adapter serve` under uvicorn, with a real redis-server.

Every row of the catalogue gets its expected answer, never a 500; a refused request
queues nothing and leaves no dedupe mark; and the logs of the whole run (the
server's, as JSON and as text, and this process's own records) hold no secret, no
email and no phone number that the requests carried.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import redis

from adapter.ledger.keys import MARK_PREFIX, RECEIVED_KEY
from tests.hostile import rawhttp
from tests.hostile.catalogue import CATALOGUE, PERSONAL, SECRETS, Case
from tests.hostile.conftest import Records, Served


def queued_state(store: redis.Redis) -> tuple[int, int]:
    """(deliveries stored in the ledger, dedupe marks)."""
    marks = sum(1 for _ in store.scan_iter(match=f"{MARK_PREFIX}*", count=1000))
    return int(store.zcard(RECEIVED_KEY)), marks


def send(served: Served, case: Case) -> rawhttp.Answer:
    served.sent.add(case.id)
    return rawhttp.send(served.port, case.request())


def forbidden_strings() -> list[str]:
    """Each secret and personal value as sent, URL-encoded, and a phone's bare digits."""
    found: list[str] = []
    for value in (*SECRETS, *PERSONAL):
        found += [value, quote(value, safe="")]
        if value.startswith("+"):
            found.append(value[1:])
    return sorted(set(found))


def leaks(text: str) -> list[str]:
    return [value for value in forbidden_strings() if value in text]


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.id for case in CATALOGUE])
def test_hostile_request_gets_its_answer_and_queues_nothing_it_refused(
    served: Served, case: Case
) -> None:
    before = queued_state(served.store)
    answer = send(served, case)

    assert answer.status != 500
    assert answer.status == case.status, (answer.status, answer.error, answer.body[:200])
    assert queued_state(served.store) == (before[0] + case.queued, before[1] + case.queued)
    head = " ".join(f"{name}: {value}" for name, value in answer.headers.items())
    assert not leaks(head + answer.body.decode("latin-1")), head
    assert "X-Injected" not in answer.headers
    assert served.process.proc is not None
    assert served.process.proc.poll() is None


def test_the_catalogue_covers_every_kind_of_hostile_input() -> None:
    ids = [case.id for case in CATALOGUE]
    assert len(ids) == len(set(ids)) >= 40
    for prefix in ("shopify-", "stripe-", "form-", "path-", "method-", "huge-", "header-"):
        assert any(i.startswith(prefix) for i in ids), prefix


def test_logs_hold_no_secret_email_or_phone_and_no_server_error(
    served: Served, test_records: Records
) -> None:
    # run alone, this test still has the whole catalogue behind it
    for case in CATALOGUE:
        if case.id not in served.sent:
            send(served, case)
    server_log = served.log()

    assert "Traceback" not in server_log
    assert not re.search(r'" 5\d\d\b', server_log), "an access line shows a 5xx answer"
    assert leaks(server_log) == []
    assert leaks("\n".join(test_records.lines)) == []
    # the logs are really there, in the expected format
    access = [line for line in server_log.splitlines() if "/webhooks/" in line]
    assert len(access) >= len(CATALOGUE) // 2
    if served.log_format == "json":
        assert all(line.startswith("{") for line in access)
