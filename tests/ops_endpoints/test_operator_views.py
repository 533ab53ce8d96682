"""`adapter trace`, `adapter tail` and `adapter replay` against a running pipeline:
`adapter serve`, `adapter worker` processes, the CRM sandbox over HTTP, real Redis."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest

from adapter.ops.state import Reader
from adapter.settings import Settings
from tests.ops_endpoints.browser import dump_dom, screenshot
from tests.ops_endpoints.pipeline import BAD_FORM, Pipeline, forms_env
from tests.ops_endpoints.support import ADMIN_TOKEN, ROOT
from tests.support.processes import adapter_command
from tests.support.waiting import wait_until
from tests.workers.live import Sandbox

pytestmark = pytest.mark.slow

EMAIL = "ada.lovelace@example.org"


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    server = Sandbox(tmp_path_factory.mktemp("sandbox"), rate_limit=600).start()
    yield server
    server.stop()


@pytest.fixture
def pipeline(tmp_path: Path, redis_url: str, sandbox_server: Sandbox) -> Iterator[Pipeline]:
    sandbox_server.reset()
    running = Pipeline(tmp_path, redis_url, sandbox_server).serve()
    yield running
    running.stop()


def crm_requests(pipeline: Pipeline) -> int:
    stats = pipeline.crm.sandbox.stats()
    return sum(sum(int(n) for n in codes.values()) for codes in stats["requests"].values())


def workers_alive(pipeline: Pipeline) -> int:
    reader = Reader.connect(Settings(redis_url=pipeline.redis_url))
    try:
        return len(reader.snapshot().workers)
    finally:
        reader.close()


def outcome(pipeline: Pipeline, ident: str) -> str | None:
    """The delivery's outcome as the trace reads it (in this process: fast to poll)."""
    reader = Reader.connect(Settings(redis_url=pipeline.redis_url))
    try:
        records = reader.tracer.find(ident)
        return reader.tracer.trace(records[0]).outcome if records else None
    finally:
        reader.close()


def trace_json(pipeline: Pipeline, ident: str) -> dict[str, Any]:
    done = pipeline.adapter("trace", ident, "--json")
    assert done.returncode == 0, done.stderr
    assert EMAIL not in done.stdout
    found: dict[str, Any] = json.loads(done.stdout)["deliveries"][0]
    return found


def steps(trace: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [step for step in trace["steps"] if step["step"] == name]


def test_trace_shows_a_delivered_order_with_its_crm_ids(pipeline: Pipeline) -> None:
    pipeline.workers.start()
    webhook_id = pipeline.send_order()
    wait_until(lambda: outcome(pipeline, webhook_id) == "delivered", timeout=60)
    trace = trace_json(pipeline, webhook_id)
    assert trace["outcome"] == "delivered"
    received = steps(trace, "received")[0]
    assert received["source"] == "shopify"
    assert received["topic"] == "orders/create"
    assert received["size"] > 0
    assert "payload" not in received
    commands = steps(trace, "mapped")[0]["commands"]
    assert [c["kind"] for c in commands] == ["upsert_deal"]
    delivered = steps(trace, "delivered")[0]
    deal_ids = {str(d.id) for d in pipeline.crm.deals()}
    assert delivered["deal_id"] in deal_ids
    text = pipeline.adapter("trace", webhook_id)
    assert "outcome: delivered" in text.stdout
    assert delivered["deal_id"] in text.stdout


def test_trace_by_external_id_finds_the_order_s_deliveries(pipeline: Pipeline) -> None:
    pipeline.workers.start()
    webhook_id = pipeline.send_order(order_id=77001)
    wait_until(lambda: outcome(pipeline, webhook_id) == "delivered", timeout=60)
    external_id = steps(trace_json(pipeline, webhook_id), "mapped")[0]["commands"][0]["external_id"]
    found = json.loads(pipeline.adapter("trace", external_id, "--json").stdout)
    assert [d["delivery_id"] for d in found["deliveries"]] == [webhook_id]


def test_trace_shows_a_delivery_waiting_for_a_worker(pipeline: Pipeline) -> None:
    webhook_id = pipeline.send_order()
    trace = trace_json(pipeline, webhook_id)
    assert trace["outcome"] == "waiting"
    assert [s["step"] for s in trace["steps"]] == ["received", "waiting"]


def test_trace_shows_why_a_delivery_was_dead_lettered(pipeline: Pipeline) -> None:
    pipeline.workers.start(**forms_env(BAD_FORM))
    delivery_id = pipeline.send_form(EMAIL)
    wait_until(lambda: outcome(pipeline, delivery_id) == "dead-lettered", timeout=60)
    trace = trace_json(pipeline, delivery_id)
    assert "no valid email or phone" in steps(trace, "dead")[0]["reason"]


def test_trace_of_an_unknown_id_says_so_in_one_line(pipeline: Pipeline) -> None:
    done = pipeline.adapter("trace", "no-such-delivery")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "no retained delivery" in done.stderr


class Tail:
    """`adapter tail` as a subprocess, its lines read by a thread."""

    def __init__(self, pipeline: Pipeline, *args: str) -> None:
        self.proc = subprocess.Popen(
            adapter_command("tail", *args),
            env={**os.environ, **pipeline.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.lines: Queue[str] = Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        assert self.proc.stderr is not None
        # it says so once it follows the stream
        assert "Following" in self.proc.stderr.readline()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, *parts: str, timeout: float = 60) -> str:
        """The first line (seen or to come) that holds every part."""

        def matching() -> str | None:
            try:
                while True:
                    self.seen.append(self.lines.get_nowait())
            except Empty:
                pass
            return next((line for line in self.seen if all(p in line for p in parts)), None)

        found: str = wait_until(matching, timeout=timeout, message=f"a tail line with {parts}")
        return found

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def test_tail_follows_delivered_rejected_and_dead_lettered_deliveries(pipeline: Pipeline) -> None:
    tail = Tail(pipeline)
    try:
        pipeline.workers.start(**forms_env(BAD_FORM))
        webhook_id = pipeline.send_order()
        assert pipeline.send_bad_signature() == 401
        form_id = pipeline.send_form(EMAIL)
        tail.expect(webhook_id, "verified")
        tail.expect(webhook_id, "mapped -> 1 command(s)")
        delivered = tail.expect(webhook_id, "delivered", "deal ")
        tail.expect("shopify", "rejected 401")
        dead = tail.expect(form_id, "dead-lettered", "no valid email or phone")
        assert "\x1b[" not in delivered + dead  # not a terminal: no colour
        assert all(EMAIL not in line for line in tail.seen)
    finally:
        tail.stop()


def test_tail_filters_by_source(pipeline: Pipeline) -> None:
    tail = Tail(pipeline, "--source", "form")
    try:
        pipeline.workers.start(**forms_env(BAD_FORM))
        webhook_id = pipeline.send_order()
        form_id = pipeline.send_form(EMAIL)
        tail.expect(form_id, "dead-lettered")
        wait_until(lambda: outcome(pipeline, webhook_id) == "delivered", timeout=60)
        assert not any(webhook_id in line for line in tail.seen)
    finally:
        tail.stop()


def test_replay_dead_after_a_mapping_fix_creates_the_records_once(pipeline: Pipeline) -> None:
    pipeline.workers.start(**forms_env(BAD_FORM))
    dead = [pipeline.send_form(f"lead{n}@example.org") for n in range(3)]
    for delivery_id in dead:
        wait_until(lambda d=delivery_id: outcome(pipeline, d) == "dead-lettered", timeout=60)
    assert pipeline.crm.deals() == []
    pipeline.workers.stop()
    pipeline.workers.start()  # the fixed setting (the pipeline's own forms)
    wait_until(lambda: workers_alive(pipeline), timeout=30)
    done = pipeline.adapter("replay", "--dead")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "queued again    3" in done.stdout
    assert "mapped          3" in done.stdout
    for delivery_id in dead:
        wait_until(lambda d=delivery_id: outcome(pipeline, d) == "delivered", timeout=60)
    assert len(pipeline.crm.deals()) == 3
    assert "dlv-" not in pipeline.adapter("deadletter", "list").stdout


def test_replaying_delivered_deliveries_changes_nothing_in_the_crm(pipeline: Pipeline) -> None:
    pipeline.workers.start()
    ids = [pipeline.send_order(order_id=88000 + n) for n in range(3)]
    for webhook_id in ids:
        wait_until(lambda w=webhook_id: outcome(pipeline, w) == "delivered", timeout=60)
    wait_until(lambda: workers_alive(pipeline), timeout=30)
    before = (pipeline.crm.deals(), pipeline.crm.contacts())
    requests = crm_requests(pipeline)
    done = pipeline.adapter("replay", "--source", "shopify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mapped          3" in done.stdout
    reader = Reader.connect(Settings(redis_url=pipeline.redis_url))
    try:
        wait_until(lambda: reader.outbox.size() == 0, timeout=60)
    finally:
        reader.close()
    assert (pipeline.crm.deals(), pipeline.crm.contacts()) == before
    # the two listings above are the only requests since: the replay sent none
    assert crm_requests(pipeline) == requests + 2 * 1


def status_view(pipeline: Pipeline, tmp_path: Path) -> tuple[str, Path]:
    """Log a browser profile in; the page's DOM and the profile."""
    profile = tmp_path / "profile"
    dom = dump_dom(f"{pipeline.url}/status?token={ADMIN_TOKEN}", profile)
    return dom, profile


def test_status_shows_real_outcomes_linked_to_their_trace_pages(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline.workers.start(**forms_env(BAD_FORM))
    webhook_id = pipeline.send_order()
    form_id = pipeline.send_form(EMAIL)
    assert pipeline.send_bad_signature() == 401
    wait_until(lambda: outcome(pipeline, webhook_id) == "delivered", timeout=60)
    wait_until(lambda: outcome(pipeline, form_id) == "dead-lettered", timeout=60)
    dom, profile = status_view(pipeline, tmp_path)
    assert EMAIL not in dom
    assert '<meta http-equiv="refresh"' in dom
    assert re.search(r'<tr class="dead">.*?dead-lettered.*?</tr>', dom)
    assert "signature" in dom  # the rejected request, with its reason
    assert "<svg" in dom
    assert "<polyline" in dom
    link = re.search(rf'href="(/status/trace/[0-9a-f]{{64}})"><code>{webhook_id}</code>', dom)
    assert link is not None, dom[:3000]
    trace = dump_dom(pipeline.url + link.group(1), profile)
    assert re.search(r'id="outcome">delivered<', trace)
    assert "upsert_deal" in trace
    deal_id = str(pipeline.crm.deals()[0].id)
    assert deal_id in trace


def test_status_and_trace_pages_at_desktop_and_phone_width(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline.workers.start(**forms_env(BAD_FORM))
    ids = [pipeline.send_order() for _ in range(3)]
    form_id = pipeline.send_form(EMAIL)
    pipeline.send_bad_signature()
    for webhook_id in ids:
        wait_until(lambda w=webhook_id: outcome(pipeline, w) == "delivered", timeout=60)
    wait_until(lambda: outcome(pipeline, form_id) == "dead-lettered", timeout=60)
    dom, profile = status_view(pipeline, tmp_path)
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    link = re.search(r'href="(/status/trace/[0-9a-f]{64})"', dom)
    assert link is not None
    for name, size in {"desktop": (1280, 1600), "phone": (390, 2400)}.items():
        screenshot(f"{pipeline.url}/status", shots / f"status-{name}.png", profile, size)
        screenshot(pipeline.url + link.group(1), shots / f"trace-{name}.png", profile, size)
    for picture in shots.glob("*.png"):
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
