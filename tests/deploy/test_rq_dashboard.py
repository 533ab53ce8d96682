"""rq-dashboard, configured as docker-compose.yml configures it, reads the adapter's jobs:
the release the compose file builds (from PyPI), against a real redis-server, over HTTP."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from adapter.inbox import Inbox, connect
from adapter.ledger.bell import BELL_QUEUE, enqueue_take
from adapter.samples import load_sample
from adapter.webhook import WebhookDelivery
from tests.support.processes import Process, free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "admin", "dashboard-test-password"
CLIENT: dict[str, Any] = {"auth": (USER, PASSWORD), "timeout": 30, "follow_redirects": True}


def compose_dashboard_environment() -> dict[str, str]:
    """The literal (not substituted) variables of the compose file's rq-dashboard."""
    text = (ROOT / "docker-compose.yml").read_text()
    service = text.split("\n  rq-dashboard:\n", 1)[1].split("\nvolumes:", 1)[0]
    block = service.split("    environment:\n", 1)[1]
    found: dict[str, str] = {}
    for line in block.splitlines():
        match = re.fullmatch(r"      (RQ_DASHBOARD_\w+): \"?([^\"$]*)\"?", line)
        if match:
            found[match.group(1)] = match.group(2)
        elif not line.startswith("      "):
            break
    return found


def test_the_compose_file_builds_the_release_tested_here() -> None:
    dockerfile = (ROOT / "deploy" / "rq-dashboard.Dockerfile").read_text()
    assert f'"rq-dashboard=={version("rq-dashboard")}"' in dockerfile
    # what rq-dashboard imports without declaring it, installed as the test extra does
    assert '"six>=' in dockerfile
    assert (
        f"crm-adapter-rq-dashboard:{version('rq-dashboard')}"
        in (ROOT / "docker-compose.yml").read_text()
    )


def test_the_compose_file_reads_jobs_as_json() -> None:
    assert compose_dashboard_environment()["RQ_DASHBOARD_JSON"] == "true"


def queue_deliveries(redis_url: str, count: int) -> list[str]:
    """Deliveries stored the way the web app stores them, and a bell (a take job) rung
    for each, as the web app and the workers' pumps ring; the jobs' ids."""

    async def put_all() -> None:
        inbox = Inbox(connect(redis_url), dedupe_ttl_seconds=3600)
        try:
            for n in range(count):
                delivery = WebhookDelivery(
                    source="shopify",
                    topic="orders/create",
                    delivery_id=f"dashboard-{n}",
                    received_at=datetime.now(UTC),
                    shop_domain="dashboard.myshopify.com",
                    payload=load_sample("shopify", "orders/create"),
                )
                assert await inbox.put(delivery) == "queued"
        finally:
            await inbox.aclose()

    asyncio.run(put_all())
    store = redis.Redis.from_url(redis_url)
    try:
        for _ in range(count):
            enqueue_take(store)
        ids: list[str] = Queue(BELL_QUEUE, connection=store, serializer=JSONSerializer).job_ids
        return ids
    finally:
        store.close()


WORK_ONE = """
import sys, redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer
store = redis.Redis.from_url(sys.argv[1])
queue = Queue(sys.argv[2], connection=store, serializer=JSONSerializer)
SimpleWorker([queue], connection=store, serializer=JSONSerializer).work(burst=True, max_jobs=1)
"""


def run_one(redis_url: str, job_id: str, workdir: Path, **env: str) -> None:
    """`job_id` run to its end by a plain RQ worker, as a worker runs the bells."""
    argv = [sys.executable, "-c", WORK_ONE, redis_url, BELL_QUEUE]
    # the job reads its settings from the environment, as in a worker
    worker = Process(
        argv, None, env={"REDIS_URL": redis_url, **env}, log_path=workdir / f"rq-{job_id}.log"
    )
    worker.start()
    store = redis.Redis.from_url(redis_url)
    try:
        def ended() -> bool:
            assert worker.proc is not None
            assert worker.proc.poll() in (None, 0), (workdir / f"rq-{job_id}.log").read_text()
            if not Job.exists(job_id, connection=store):
                return True  # a bell's result is not kept (result_ttl=0)
            job = Job.fetch(job_id, connection=store, serializer=JSONSerializer)
            return job.get_status(refresh=True) in (JobStatus.FINISHED, JobStatus.FAILED)

        wait_until(ended, timeout=60, message="the job run to its end")
    finally:
        store.close()
        worker.stop()


def dashboard(redis_url: str, workdir: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **compose_dashboard_environment(),
        "RQ_DASHBOARD_REDIS_URL": redis_url,
        "RQ_DASHBOARD_USERNAME": USER,
        "RQ_DASHBOARD_PASSWORD": PASSWORD,
    }
    argv = [sys.executable, "-m", "rq_dashboard", "--bind", "127.0.0.1", "--port", str(port)]
    process = Process(argv, port, env=env, log_path=workdir / "rq-dashboard.log").start()
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture
def jobs(redis_url: str, tmp_path: Path) -> list[str]:
    ids = queue_deliveries(redis_url, 3)
    # a bell answered: its result is not kept, so it leaves the dashboard
    run_one(redis_url, ids[0], tmp_path)
    # a bell whose job failed (its worker's settings are bad) stays in the failed
    # registry with its exception: the page an operator opens first
    run_one(redis_url, ids[1], tmp_path, REDIS_URL="not-a-redis-url")
    return ids[1:]


@pytest.fixture
def as_composed(redis_url: str, tmp_path: Path, jobs: list[str]) -> Iterator[str]:
    yield from dashboard(redis_url, tmp_path)


def job_pages(jobs: list[str]) -> list[str]:
    pages = ["/0/view/queues", "/0/data/queues.json", "/0/view/workers"]
    for registry in ("queued", "failed", "finished", "started", "deferred", "scheduled"):
        pages.append(f"/0/view/jobs/{BELL_QUEUE}/{registry}/10/asc/1")
        pages.append(f"/0/data/jobs/{BELL_QUEUE}/{registry}/10/asc/1.json")
    for job_id in jobs:
        pages += [f"/0/view/job/{job_id}", f"/0/data/job/{job_id}.json"]
    return pages


def test_every_job_page_answers_200_as_composed(as_composed: str, jobs: list[str]) -> None:
    with httpx.Client(
        base_url=as_composed, auth=(USER, PASSWORD), timeout=30, follow_redirects=True
    ) as http:
        answers = {page: http.get(page).status_code for page in job_pages(jobs)}
        listed = http.get(f"/0/data/jobs/{BELL_QUEUE}/queued/10/asc/1.json").json()
        failed = http.get(f"/0/data/jobs/{BELL_QUEUE}/failed/10/asc/1.json").json()

    assert answers == dict.fromkeys(answers, 200)
    assert {job["id"] for job in listed["jobs"]} <= set(jobs)
    assert listed["jobs"]
    assert [job["id"] for job in failed["jobs"]] == [jobs[0]]


def test_the_dashboard_asks_for_its_password(as_composed: str) -> None:
    answer = httpx.get(f"{as_composed}/0/data/queues.json", follow_redirects=True)

    assert answer.status_code == 401


def test_rq_dashboard_runs_from_the_test_extra() -> None:
    # the installed release is the one `pip install -e .[test]` pins
    result = subprocess.run(
        [sys.executable, "-m", "rq_dashboard", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
