"""Keep a claimed batch alive from a background thread while its requests are in flight.

The outbox lease is short (`Options.lease`, 12 s by default), so that the work of a
worker killed mid-request is taken again soon. A CRM request may take longer than that
(the client's timeout, several requests in one batch); while the worker lives, this
thread renews every quarter lease: the claim and its locks, the rate-limit slot of the
request in flight, and the flush's place among the running flushes. A killed worker's
thread dies with it, and its leases run out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

import redis

from workers.batch import Batch
from workers.ratelimit import LimiterGate

log = logging.getLogger(__name__)


class Keeper:
    """`with Keeper(batch, gate):` renews the batch's leases until the block ends."""

    def __init__(
        self, batch: Batch, gate: LimiterGate, heartbeat: Callable[[], None] | None = None
    ) -> None:
        self.batch = batch
        self.gate = gate
        self.heartbeat = heartbeat
        self.every = batch.ctx.options.lease / 4
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.batch.renew()
                self.gate.renew()
                if self.heartbeat is not None:
                    self.heartbeat()
            except redis.RedisError as exc:
                # Redis away: the lease may lapse; whoever takes the work sends it once
                log.warning("could not renew a lease: %s", type(exc).__name__)

    def __enter__(self) -> Keeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
