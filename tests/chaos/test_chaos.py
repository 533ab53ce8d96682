"""Chaos: 3,000 deliveries through the whole system while it is being broken, then the
CRM compared with what it must hold, record by record.

    python -m pytest tests/chaos -q -s

Real processes on 127.0.0.1: redis-server (AOF, fsync every second), `adapter serve`,
two `adapter worker` processes and `adapter sandbox` injecting faults (500 before and
after the write, 429, answers held past the workers' 1 s timeout). The deliveries cover
every source, with 20 % re-deliveries, out-of-order updates and concurrent bursts. A
worker is SIGKILLed three times mid-run (and started again) and Redis is stopped and
started once; meanwhile the web answers 503 and the sender retries like a provider.
Then, once everything is drained: 0 lost, 0 duplicated, every value as expected.

The figures are printed (`-s` shows them) and written to `chaos-figures.json` in the
test's temporary directory; its path is printed too.

Kills land while the worker runs a flush: a batch claimed and its CRM request on the
way, which is where a write can be lost or made twice. Kills at the other instants
(a take job dequeued, deliveries leased, mapped, queued) and kill storms are in
test_spine.py.

Knobs (environment): CHAOS_SEED (the workload and the faults), CHAOS_DELIVERIES
(3000), CHAOS_SABOTAGE.

Checking that the test goes red (by hand): the comparison is run on a CRM made wrong
on purpose just before it is read.

    CHAOS_SABOTAGE=drop      python -m pytest tests/chaos -q -s   # one deal deleted: 1 lost
    CHAOS_SABOTAGE=duplicate python -m pytest tests/chaos -q -s   # one deal copied: 1 duplicated
    CHAOS_SABOTAGE=stale     python -m pytest tests/chaos -q -s   # one deal set back: 1 wrong

Each must FAIL, naming the record. test_compare.py checks the same on made-up states
in every run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.chaos.compare import CONTACT_FIELDS, DEAL_FIELDS, compare, crm_client, read_all
from tests.chaos.sender import Sender
from tests.chaos.stack import API_KEY, Stack
from tests.chaos.workload import Delivery, Workload, build
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CHAOS_SEED", "1"))
DELIVERIES = int(os.environ.get("CHAOS_DELIVERIES", "3000"))
SABOTAGE = os.environ.get("CHAOS_SABOTAGE", "")
FAULTS = {
    "seed": SEED,
    "error_before": 0.03,
    "error_after": 0.03,
    # every 429 pauses the key for every worker for its Retry-After (1 s)
    "rate_limit": 0.005,
    "hang": 0.01,
    "hang_seconds": 2,
}
KILLS_AT = (0.15, 0.40, 0.75)
REDIS_RESTART_AT = 0.55
SEND_TIMEOUT = 240.0
DRAIN_TIMEOUT = 180.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path, FAULTS).start(workers=2)
    yield running
    running.stop()


def sabotage(http: httpx.Client, mode: str) -> None:
    """Make the CRM wrong on purpose: the comparison must then fail."""
    if not mode:
        return
    [deal] = http.get("rest-api-proxy/deals", params={"limit": 1, "order": "id.asc"}).json()
    if mode == "drop":
        response = http.delete("rest-api-proxy/deals", params={"id": f"eq.{deal['id']}"})
    elif mode == "duplicate":
        copy = {
            k: deal[k]
            for k in ("title", "value", "currency", "stage", "contact_id", "custom_fields")
        }
        response = http.post("rest-api-proxy/deals", json=copy)
    elif mode == "stale":
        stage = "qualified" if deal["stage"] != "qualified" else "new"
        response = http.patch(
            "rest-api-proxy/deals", params={"id": f"eq.{deal['id']}"}, json={"stage": stage}
        )
    else:
        raise ValueError(f"CHAOS_SABOTAGE: unknown mode {mode!r} (drop, duplicate, stale)")
    response.raise_for_status()


class Drain:
    """Drained: nothing waiting in the ledger, no take job queued or running and an
    empty outbox, seen twice in a row at least a second apart (a flush can be between
    two reads)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.since: float | None = None
        self.last: dict[str, int] = {}

    def __call__(self) -> bool:
        self.stack.supervise()
        try:
            self.last = self.stack.backlog()
        except redis.RedisError:
            self.since = None
            return False
        last = self.last
        idle = not (
            last["ledger"] or last["queued_jobs"] or last["running_jobs"] or last["outbox"]
        )
        if not idle:
            self.since = None
            return False
        if self.since is None:
            self.since = time.monotonic()
        return time.monotonic() - self.since >= 1.0


def probe(stack: Stack, delivery: Delivery) -> int | None:
    """Post a delivery already acknowledged (a re-delivery: it changes nothing)."""
    try:
        response = httpx.post(
            stack.web_url + delivery.path,
            content=delivery.body,
            headers=delivery.headers(),
            timeout=10,
        )
    except httpx.TransportError:
        return None
    return response.status_code


def run_chaos(stack: Stack, sender: Sender, workload: Workload) -> dict[str, Any]:
    """The chaos events, each once its share of the deliveries has been acknowledged
    (the sender holds its last wave until they are all done). Returns what was seen."""
    events = sorted([(share, "kill") for share in KILLS_AT] + [(REDIS_RESTART_AT, "redis")])
    seen: dict[str, Any] = {"kill_waits": [], "outage_probe": None}
    for share, what in events:

        def reached(share: float = share) -> bool:
            stack.supervise()
            return sender.done >= share * workload.total

        wait_until(reached, timeout=SEND_TIMEOUT, interval=0.05, message=f"{share:.0%} sent")
        if what == "kill":
            began = time.monotonic()
            wait_until(
                stack.kill_a_worker_mid_flush,
                timeout=60,
                interval=0.02,
                message="a worker in the middle of a flush",
            )
            seen["kill_waits"].append(round(time.monotonic() - began, 2))
        else:
            # what Redis holds at that moment, which the AOF must bring back
            seen["backlog_at_redis_stop"] = stack.backlog()
            stack.stop_redis()
            seen["outage_probe"] = probe(stack, workload.waves[0][0])
            stack.start_redis()
    sender.release_last_wave()
    return seen


def test_chaos_loses_nothing_duplicates_nothing_and_ends_in_the_newest_state(
    stack: Stack, tmp_path: Path
) -> None:
    workload = build(DELIVERIES, 0.2, SEED)
    started = time.monotonic()
    sender = Sender(stack.web_url, workload).start()
    try:
        seen = run_chaos(stack, sender, workload)
    finally:
        sender.release_last_wave()
    sender.join(SEND_TIMEOUT)
    sent = time.monotonic()

    drain = Drain(stack)
    try:
        wait_until(drain, timeout=DRAIN_TIMEOUT, interval=0.25, message="everything drained")
    except AssertionError:
        raise AssertionError(f"not drained: {drain.last}\n{stack.logs()}") from None
    drained = time.monotonic()

    stack.control("POST", "/_sandbox/faults", json={})
    stats = stack.control("GET", "/_sandbox/stats")
    with crm_client(stack.crm_url, API_KEY) as http:
        sabotage(http, SABOTAGE)
        deals = read_all(http, "deals", DEAL_FIELDS)
        contacts = read_all(http, "contacts", CONTACT_FIELDS)
    deal_report, contact_report = compare(workload.expected, deals, contacts)
    failed_jobs = stack.failed_jobs()

    figures: dict[str, Any] = {
        "seed": SEED,
        "sabotage": SABOTAGE or None,
        "deliveries_sent": workload.total,
        "unique_deliveries": workload.unique,
        "redeliveries_sent": workload.redeliveries,
        "http_attempts": sender.figures.attempts,
        "answers": dict(sender.figures.answers),
        "outcomes": dict(sender.figures.outcomes),
        "connection_errors": sender.figures.connection_errors,
        "faults_injected": stats["faults"],
        "crm_requests": stats["total_requests"],
        "worker_kills": stack.kills,
        "kill_waits_seconds": seen["kill_waits"],
        "web_answer_while_redis_down": seen["outage_probe"],
        "backlog_at_redis_stop": seen.get("backlog_at_redis_stop"),
        "redis_restarts": stack.redis_restarts,
        "worker_exits_restarted": stack.worker_exits,
        "expected_deals": len(workload.expected.deals),
        "expected_contacts": len(workload.expected.contacts),
        "crm_deals": len(deals),
        "crm_contacts": len(contacts),
        "lost": len(deal_report.lost) + len(contact_report.lost),
        "duplicated": deal_report.extra_copies + contact_report.extra_copies,
        "wrong_values": len(deal_report.wrong) + len(contact_report.wrong),
        "unexpected_records": len(deal_report.unexpected) + len(contact_report.unexpected),
        "dead_letters": drain.last.get("dead_letters"),
        "failed_delivery_jobs": len(failed_jobs),
        "send_seconds": round(sent - started, 1),
        "drain_seconds": round(drained - sent, 1),
        "total_seconds": round(drained - started, 1),
    }
    path = tmp_path / "chaos-figures.json"
    path.write_text(json.dumps(figures, indent=2))
    print("\nchaos figures:\n" + "\n".join(f"  {k}: {v}" for k, v in figures.items()))
    print(f"chaos figures written to {path}")

    assert sender.figures.failed == []
    assert stack.kills == len(KILLS_AT)
    assert stack.redis_restarts == 1
    assert seen["outage_probe"] == 503, "the web must answer 503 while Redis is down"
    assert sum(stats["faults"].values()) > 0
    assert failed_jobs == []
    assert figures["dead_letters"] == 0
    assert deal_report.clean, f"deals: {deal_report.summary()}"
    assert contact_report.clean, f"contacts: {contact_report.summary()}"
