"""Run a delivery worker: an RQ worker on the delivery and outbox queues, plus the pump.

`run_worker()` is what `adapter worker` runs (in the main thread, SIGTERM/SIGINT stop
it warmly); `start_worker_thread()` runs one inside another process (the dev mode),
stopped with `.stop()`.

The worker does not fork a work horse per job: a job is cheap (a mapping, or one
flush that sends many requests), a fork would cost more than most jobs, and a
SIGKILL then takes the job down with its worker, which is exactly the case the
outbox is built to survive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.worker import SimpleWorker

from adapter.settings import Settings
from workers.context import Context, set_context
from workers.outbox import Kind
from workers.scheduling import Pump

log = logging.getLogger(__name__)


class DeliveryWorker(SimpleWorker):
    """A SimpleWorker that can also run outside the main thread."""

    in_thread = False
    # how long a blocking dequeue waits before the loop looks at stop requests again
    dequeue_wait = 1

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> Any:
        if not self.in_thread:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        # no signal can reach a thread: wake up every second to see if it should stop
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(self.dequeue_wait, self.dequeue_wait)
            if result is not None:
                return result
        return None

    def _install_signal_handlers(self) -> None:
        if not self.in_thread:
            super()._install_signal_handlers()  # type: ignore[no-untyped-call]


def default_queues(ctx: Context) -> list[str]:
    # deliveries first: one takes milliseconds to map, while a flush may wait in its
    # worker for company (linger) or a rate-limit slot. With the outbox first, every
    # worker sat in such waits while deliveries piled up behind them (~5 mapped a
    # second), and the lone entries they trickled out went one to a request.
    return [ctx.options.delivery_queue, ctx.options.outbox_queue]


def _quiet_http_logs() -> None:
    # httpx logs every request line at INFO, query strings (emails, phones) included
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def build_worker(
    ctx: Context, queues: Sequence[str] | None = None, name: str | None = None
) -> DeliveryWorker:
    worker = DeliveryWorker(
        list(queues or default_queues(ctx)),
        name=name,
        connection=ctx.rq_redis,
        serializer=JSONSerializer,
        # a job's description holds its arguments: personal data stays out of logs
        log_job_description=False,
    )
    return worker


def run_worker(
    settings: Settings,
    queues: Sequence[str] | None = None,
    *,
    burst: bool = False,
    with_scheduler: bool = False,
    logging_level: str | None = None,
    context: Context | None = None,
) -> bool:
    """Work until stopped (or, with `burst`, until the queues and the outbox are empty)."""
    _quiet_http_logs()
    ctx = context or Context(settings)
    set_context(ctx)
    worker = build_worker(ctx, queues)
    pump = Pump(ctx, worker.name, worker.queue_names())
    try:
        if not burst:
            pump.start()
            return bool(worker.work(with_scheduler=with_scheduler, logging_level=logging_level))
        return _drain(ctx, worker, pump, logging_level)
    finally:
        pump.stop()
        set_context(None)
        if context is None:
            ctx.close()


def _drain(ctx: Context, worker: DeliveryWorker, pump: Pump, logging_level: str | None) -> bool:
    """Burst mode: jobs until none are left, and again while the outbox still holds
    entries that will come due (retries after backoff)."""
    worked = False
    while True:
        worked = worker.work(burst=True, logging_level=logging_level) or worked
        pump.tick()
        if any(q.count for q in worker.queues):
            continue
        backlogs = [ctx.outbox.backlog(kind) for kind in Kind]
        if not any(b.total for b in backlogs):
            return worked
        waits = [b.next_in for b in backlogs if b.next_in is not None]
        time.sleep(min([*waits, 1.0]) if waits else 0.2)


class WorkerThread:
    """A delivery worker inside this process (e.g. next to the web app in dev mode)."""

    def __init__(
        self,
        settings: Settings,
        queues: Sequence[str] | None = None,
        name: str | None = None,
        context: Context | None = None,
    ) -> None:
        _quiet_http_logs()
        self._own_context = context is None
        self.ctx = context or Context(settings)
        set_context(self.ctx)
        self.worker = build_worker(self.ctx, queues, name)
        self.worker.in_thread = True
        self.worker.death_penalty_class = TimerDeathPenalty
        self.pump = Pump(self.ctx, self.worker.name, self.worker.queue_names())
        self._thread = threading.Thread(target=self._run, name="delivery-worker", daemon=True)

    def _run(self) -> None:
        try:
            self.worker.work()
        except Exception:
            log.exception("the delivery worker stopped")

    def start(self) -> WorkerThread:
        self.pump.start()
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        self.worker._stop_requested = True
        self._thread.join(timeout=timeout)
        self.pump.stop()
        set_context(None)
        if self._own_context:
            self.ctx.close()


def start_worker_thread(settings: Settings, queues: Sequence[str] | None = None) -> WorkerThread:
    return WorkerThread(settings, queues).start()
