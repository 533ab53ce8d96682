"""Posts the workload like a provider: concurrent waves, and every delivery retried on a
503 or a connection error (signed afresh each attempt) until it is acknowledged or its
deadline passes. Runs in a thread of its own, with its own event loop; the test reads
its progress and figures from the main thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.chaos.workload import Delivery, Workload

RETRY_STATUSES = frozenset({503})
BACKOFF_START = 0.1
BACKOFF_CAP = 1.0


@dataclass
class SenderFigures:
    attempts: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    connection_errors: int = 0
    # deliveries that got an answer a provider would not retry, or ran out of time
    failed: list[str] = field(default_factory=list)


class Sender:
    def __init__(self, base_url: str, workload: Workload, deadline_seconds: float = 120.0) -> None:
        self.base_url = base_url
        self.workload = workload
        self.deadline_seconds = deadline_seconds
        self.figures = SenderFigures()
        self._lock = threading.Lock()
        self._done = 0
        self._thread = threading.Thread(target=self._run, name="chaos-sender", daemon=True)
        self.error: BaseException | None = None
        # the last wave waits for this, so that the run is not over before the chaos is
        self.last_wave = threading.Event()

    @property
    def done(self) -> int:
        """Deliveries acknowledged (or given up on) so far."""
        with self._lock:
            return self._done

    @property
    def unavailable(self) -> int:
        """503 answers so far."""
        with self._lock:
            return self.figures.answers["503"]

    def finished(self) -> bool:
        return not self._thread.is_alive()

    def release_last_wave(self) -> None:
        self.last_wave.set()

    def start(self) -> Sender:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the sender did not finish within {timeout}s")
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._send_all())
        except BaseException as exc:  # reported by join()
            self.error = exc

    async def _send_all(self) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10.0, limits=limits) as client:
            waves = self.workload.waves
            for n, wave in enumerate(waves):
                if n == len(waves) - 1:
                    await asyncio.to_thread(self.last_wave.wait, self.deadline_seconds)
                await asyncio.gather(*(self._deliver(client, d) for d in wave))

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        deadline = time.monotonic() + self.deadline_seconds
        backoff = BACKOFF_START
        while True:
            status = await self._attempt(client, delivery)
            if status is not None and status not in RETRY_STATUSES:
                break
            if time.monotonic() > deadline:
                self._fail(f"{delivery.key}: still unanswered after {self.deadline_seconds}s")
                break
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_CAP)
        with self._lock:
            self._done += 1

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> int | None:
        """The answer's status, or None for a connection error."""
        try:
            response = await client.post(
                delivery.path, content=delivery.body, headers=delivery.headers()
            )
        except httpx.TransportError:
            with self._lock:
                self.figures.attempts += 1
                self.figures.connection_errors += 1
            return None
        status = response.status_code
        with self._lock:
            self.figures.attempts += 1
            self.figures.answers[str(status)] += 1
        if status in (200, 202):
            outcome = str(response.json().get("status"))
            with self._lock:
                self.figures.outcomes[outcome] += 1
        elif status not in RETRY_STATUSES:
            self._fail(f"{delivery.key}: answered {status} {response.text[:200]}")
        return status

    def _fail(self, reason: str) -> None:
        with self._lock:
            self.figures.failed.append(reason)
