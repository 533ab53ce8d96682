from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapter.crm.client import CrmClient
from adapter.settings import Settings
from tests.support.waiting import wait_until
from tests.workers.commands import upsert_deal
from tests.workers.fakecrm import FakeCrm
from workers import intake
from workers.context import Context, Options
from workers.runner import WorkerThread, run_worker
from workers.status import read_status


@pytest.fixture
def crm() -> FakeCrm:
    return FakeCrm()


@pytest.fixture
def ctx(redis_url: str, crm: FakeCrm) -> Iterator[Context]:
    settings = Settings(redis_url=redis_url, crm_api_key="k", crm_base_url="http://crm.test")
    client = CrmClient(settings.crm_base_url, "k", transport=crm.transport(), max_attempts=1)
    context = Context(settings, Options(linger=0.1), client)
    yield context
    context.close()


@pytest.mark.slow
def test_a_worker_thread_delivers_and_stops(ctx: Context, crm: FakeCrm) -> None:
    worker = WorkerThread(ctx.settings, context=ctx).start()
    try:
        intake.queue_commands(ctx, [upsert_deal(n) for n in range(3)])
        wait_until(lambda: len(crm.deals) == 3 and ctx.outbox.size() == 0, timeout=15)
        wait_until(lambda: worker.worker.name in read_status(ctx.redis)["workers"])
    finally:
        worker.stop(timeout=10)
    assert not worker._thread.is_alive()


@pytest.mark.slow
def test_burst_mode_drains_the_outbox_and_returns(ctx: Context, crm: FakeCrm) -> None:
    crm.fail("POST /create-deals-bulk", "error_before")  # a retry after backoff
    intake.queue_commands(ctx, [upsert_deal(n) for n in range(3)])
    run_worker(ctx.settings, burst=True, context=ctx)
    assert len(crm.deals) == 3
    assert ctx.outbox.size() == 0
