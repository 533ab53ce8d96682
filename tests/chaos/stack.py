"""The whole system as separate processes on 127.0.0.1: redis-server with AOF, the web app
(`adapter serve`), `adapter worker` processes and the CRM sandbox (`adapter sandbox`),
plus the chaos done to them: workers SIGKILLed mid-flush, Redis stopped and started."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from adapter.ledger import Ledger
from tests.chaos.workload import (
    CONFIG,
    PAYMOB_SECRET,
    SALLA_SECRET,
    SHOPIFY_SECRET,
    STRIPE_SECRET,
    WOOCOMMERCE_SECRET,
)
from tests.support.processes import Process, adapter_command, free_port, start_redis
from workers.deadletters import DeadLetters
from workers.outbox import Outbox

API_KEY = "cg_chaos_sandbox_key_0123456789"
RATE_LIMIT = 6000
FLUSH_FUNCTION = "workers.jobs.flush_outbox"
DELIVERY_QUEUE = "deliveries"


class Stack:
    def __init__(self, workdir: Path, faults: dict[str, Any]) -> None:
        self.workdir = workdir
        self.faults = faults
        self.redis_dir = workdir / "redis"
        self.redis_dir.mkdir()
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.sandbox_port = free_port()
        self.sandbox_root = f"http://127.0.0.1:{self.sandbox_port}"
        self.crm_url = f"{self.sandbox_root}/functions/v1"
        self.web_port = free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        config = workdir / "adapter.toml"
        config.write_text(CONFIG)
        self.env = {
            "ADAPTER_CONFIG": str(config),
            "REDIS_URL": self.redis_url,
            "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
            "STRIPE_WEBHOOK_SECRETS": STRIPE_SECRET,
            "WOOCOMMERCE_WEBHOOK_SECRETS": WOOCOMMERCE_SECRET,
            "SALLA_WEBHOOK_SECRETS": SALLA_SECRET,
            "PAYMOB_HMAC_SECRETS": PAYMOB_SECRET,
            "CRM_BASE_URL": self.crm_url,
            "CRM_API_KEY": API_KEY,
            "CRM_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
            "CRM_TIMEOUT_SECONDS": "1",
            "BATCH_LINGER_SECONDS": "0.5",
            "ADAPTER_BACKOFF_BASE_SECONDS": "0.2",
            "ADAPTER_BACKOFF_CAP_SECONDS": "2",
            "LOG_LEVEL": "WARNING",
        }
        self.redis: Process | None = None
        self.sandbox: Process | None = None
        self.web: Process | None = None
        self.workers: list[Process] = []
        self.started_workers = 0
        self.kills = 0
        self.redis_restarts = 0
        # workers that exited on their own and were started again
        self.worker_exits = 0

    # --- lifecycle -----------------------------------------------------------------

    def start(self, workers: int = 2) -> Stack:
        self.redis = start_redis(self.redis_dir, port=self.redis_port, aof=True)
        self.sandbox = Process(
            adapter_command(
                "sandbox",
                "--port",
                str(self.sandbox_port),
                "--api-key",
                API_KEY,
                "--rate-limit",
                str(RATE_LIMIT),
                "--log-level",
                "warning",
            ),
            self.sandbox_port,
            log_path=self.workdir / "sandbox.log",
        ).start()
        self.control("POST", "/_sandbox/faults", json=self.faults)
        self.web = Process(
            adapter_command("serve", "--port", str(self.web_port)),
            self.web_port,
            env=self.env,
            log_path=self.workdir / "web.log",
        ).start()
        for _ in range(workers):
            self.add_worker()
        return self

    def add_worker(self, **env: str) -> Process:
        """Start one more `adapter worker` (with `env` added to the stack's)."""
        worker = self._worker(env)
        self.workers.append(worker)
        return worker

    def _worker(self, env: dict[str, str] | None = None) -> Process:
        self.started_workers += 1
        return Process(
            adapter_command("worker"),
            None,
            env={**self.env, **(env or {})},
            log_path=self.workdir / f"worker-{self.started_workers}.log",
        ).start()

    def stop(self) -> None:
        for process in [*self.workers, self.web, self.sandbox, self.redis]:
            if process is not None:
                process.stop()

    def control(self, method: str, path: str, **options: Any) -> Any:
        response = httpx.request(method, self.sandbox_root + path, timeout=30, **options)
        response.raise_for_status()
        return response.json()

    # --- chaos ---------------------------------------------------------------------

    def supervise(self) -> None:
        """Start again any worker that exited by itself, as a process supervisor would."""
        for n, process in enumerate(self.workers):
            if process.proc is not None and process.proc.poll() is not None:
                self.worker_exits += 1
                self.workers[n] = self._worker()

    def kill_a_worker_mid_flush(self) -> bool:
        """SIGKILL a worker that is in the middle of a flush (a batch claimed, its CRM
        request on its way), and start another in its place; False if none is.

        A worker seen flushing is frozen (SIGSTOP) and looked at again, so what is read
        is what it is doing when the KILL lands. Only candidates are frozen: freezing
        every worker on every look slows them enough to change what they do."""
        for n, process in enumerate(self.workers):
            if process.proc is None or process.proc.poll() is not None:
                continue
            pid = process.proc.pid
            if self._current_job(pid) != FLUSH_FUNCTION:
                continue
            os.kill(pid, signal.SIGSTOP)
            if self._current_job(pid) != FLUSH_FUNCTION:
                os.kill(pid, signal.SIGCONT)
                continue
            process.kill()
            self.kills += 1
            self.workers[n] = self._worker()
            return True
        return False

    def _current_job(self, pid: int) -> str | None:
        """The function of the job the worker with this pid is running, if any."""
        try:
            with redis.Redis.from_url(self.redis_url) as store:
                for worker in Worker.all(connection=store, serializer=JSONSerializer):
                    if worker.pid != pid:
                        continue
                    job_id = worker.get_current_job_id()
                    if job_id is None:
                        return None
                    job = Job.fetch(job_id, connection=store, serializer=JSONSerializer)
                    return job.func_name
        except (redis.RedisError, NoSuchJobError):
            return None
        return None

    def stop_redis(self) -> None:
        assert self.redis is not None
        # SIGTERM: Redis writes its AOF out before it exits
        self.redis.stop()

    def start_redis(self) -> None:
        self.redis = start_redis(self.redis_dir, port=self.redis_port, aof=True)
        self.redis_restarts += 1

    # --- state ---------------------------------------------------------------------

    def backlog(self) -> dict[str, int]:
        """What is still on its way: deliveries in the ledger not yet mapped, queued,
        running and failed jobs of the delivery queue (take jobs), outbox entries, dead
        letters. Connection errors count as 'not drained yet'."""
        with (
            redis.Redis.from_url(self.redis_url) as raw,
            redis.Redis.from_url(self.redis_url, decode_responses=True) as text,
        ):
            queue = Queue(DELIVERY_QUEUE, connection=raw, serializer=JSONSerializer)
            return {
                "ledger": Ledger(raw).backlog().total,
                "queued_jobs": queue.count,
                "running_jobs": StartedJobRegistry(queue=queue).count,
                "failed_jobs": FailedJobRegistry(queue=queue).count,
                "outbox": Outbox(text).size(),
                "dead_letters": DeadLetters(text).count(),
            }

    def drained(self) -> bool:
        """Nothing left in the ledger or the outbox (False while Redis is away)."""
        try:
            backlog = self.backlog()
        except redis.RedisError:
            return False
        return not (backlog["ledger"] or backlog["outbox"])

    def failed_jobs(self) -> list[str]:
        """Why each failed delivery job failed (the last line of its exception)."""
        with redis.Redis.from_url(self.redis_url) as store:
            registry = FailedJobRegistry(
                DELIVERY_QUEUE, connection=store, serializer=JSONSerializer
            )
            reasons = []
            for job_id in registry.get_job_ids():
                job = Job.fetch(job_id, connection=store, serializer=JSONSerializer)
                result = job.latest_result()
                text = (result.exc_string or "") if result else ""
                reasons.append(f"{job_id}: {text.strip().splitlines()[-1:] or '?'}")
            return reasons

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.workdir.glob("*.log"))
        )
