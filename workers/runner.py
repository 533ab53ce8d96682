"""Run a delivery worker: an RQ worker on the delivery and outbox queues, plus the pump.

`run_worker()` is what `adapter worker` runs (in the main thread, SIGTERM/SIGINT stop
it warmly); `start_worker_thread()` runs one inside another process (the dev mode),
stopped with `.stop()`.

Redis trouble never ends the process: when RQ's loop quits (RQ gives up on any error
in its own bookkeeping, e.g. OOM with noeviction, a read-only replica, Redis gone),
`run_worker` says once what is wrong, waits with backoff until Redis accepts writes,
and starts a fresh RQ worker. Deliveries are owned by the ledger and commands by the
outbox, so whatever RQ job was cut short is taken again through their leases.

The worker does not fork a work horse per job: a job is cheap (a mapping, or one
flush that sends many requests), a fork would cost more than most jobs, and a
SIGKILL then takes the job down with its worker, which is exactly the case the
outbox is built to survive.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import redis
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.worker import SimpleWorker

from adapter.settings import Settings
from workers.context import Context, set_context
from workers.outbox import Kind
from workers.redis_trouble import Waiting
from workers.scheduling import Pump
from workers.testpoints import pause_at

log = logging.getLogger(__name__)


# how long RQ's command listener (kill-horse, shutdown) waits for a message at a time
PUBSUB_WAIT_SECONDS = 1.0


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

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_event.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def subscribe(self) -> None:
        """RQ's own subscription, but its listener wakes every second, not every 60:
        RQ's teardown closes the pubsub connection, which waits for the listener's wait
        to end, so each stop (and every `--burst` exit) took up to a minute."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        # RQ declares the attribute as None
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=PUBSUB_WAIT_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def execute_job(self, job: Job, queue: Queue) -> None:
        pause_at("after-dequeue")
        super().execute_job(job, queue)

    # set on SIGTERM/SIGINT: `run_worker` gives each RQ worker it starts its own
    stop_event = threading.Event()


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
    logging_level: str | None = None,
    context: Context | None = None,
) -> bool:
    """Work until stopped (or, with `burst`, until the ledger, the queues and the outbox
    are empty), through any Redis trouble."""
    _quiet_http_logs()
    ctx = context or Context(settings)
    set_context(ctx)
    stop = threading.Event()
    pump = Pump(ctx, f"worker-{id(stop):x}", list(queues or default_queues(ctx)))
    try:
        if not burst:
            pump.start()
            return _work(ctx, queues, stop, logging_level)
        return _drain(ctx, queues, stop, pump, logging_level)
    finally:
        pump.stop()
        set_context(None)
        if context is None:
            ctx.close()


def _work(
    ctx: Context,
    queues: Sequence[str] | None,
    stop: threading.Event,
    logging_level: str | None,
    burst: bool = False,
) -> bool:
    """RQ's work loop, started again (as a new RQ worker) whenever it quits on an error
    rather than on a stop request; between two, wait until Redis accepts writes."""
    waiting = Waiting(ctx.rq_redis)
    worked = False
    while not stop.is_set():
        worker = build_worker(ctx, queues)
        worker.stop_event = stop
        failure: BaseException | None = None
        try:
            worked = bool(worker.work(burst=burst, logging_level=logging_level)) or worked
        except (redis.RedisError, OSError, ValueError) as exc:
            # RQ's start-up or teardown failed (its registration, under OOM say)
            failure = exc
        if stop.is_set() or (burst and failure is None):
            return worked
        # signals now only set `stop`, also while waiting below
        _stop_on_signals(stop)
        why = f"the RQ worker stopped ({type(failure).__name__ if failure else 'see above'})"
        if not waiting.until_writable(stop, why=why):
            return worked
    return worked


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _drain(
    ctx: Context,
    queues: Sequence[str] | None,
    stop: threading.Event,
    pump: Pump,
    logging_level: str | None,
) -> bool:
    """Burst mode: jobs until none are left, and again while the ledger or the outbox
    still hold work that will come due (leases, retries after backoff)."""
    worked = False
    names = list(queues or default_queues(ctx))
    while not stop.is_set():
        worked = _work(ctx, queues, stop, logging_level, burst=True) or worked
        pump.tick()
        if any(Queue(name, connection=ctx.rq_redis).count for name in names):
            continue
        ledger = ctx.ledger.backlog()
        backlogs = [t.outbox.backlog(kind) for t in ctx.all_tenants() for kind in Kind]
        if not ledger.total and not any(b.total for b in backlogs):
            return worked
        waits = [b.next_in for b in backlogs if b.next_in is not None]
        time.sleep(min([*waits, 0.5]) if waits else 0.2)
    return worked


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
