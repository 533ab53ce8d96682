"""The bell: an RQ job that tells some worker "the ledger has deliveries to take".

The job carries nothing: the deliveries are in the ledger, so a bell lost with a killed
worker (or never enqueued) costs only the time until the next ring. Whoever stores a
delivery rings when the `bell` flag was free (the ingest script sets it); each worker's
pump rings while the ledger has due deliveries or expired leases and too few takers
run. The take job clears the flag when it starts, so a delivery stored while it runs
rings again rather than waiting for the flag to expire.
"""

from __future__ import annotations

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from adapter.ledger.keys import BELL_KEY

BELL_QUEUE = "deliveries"
TAKE_FUNCTION = "workers.jobs.take_deliveries"
# the flag outlives an enqueue that never happened (a process killed in between) briefly
BELL_TTL_SECONDS = 2.0
TAKE_TIMEOUT_SECONDS = 180
QUEUED_TTL_SECONDS = 600


def enqueue_take(connection: redis.Redis, queue_name: str = BELL_QUEUE) -> None:
    """Enqueue one take job (RQ's own enqueue: `connection` must return bytes)."""
    Queue(queue_name, connection=connection, serializer=JSONSerializer).enqueue_call(
        TAKE_FUNCTION,
        timeout=TAKE_TIMEOUT_SECONDS,
        # a bell nobody answered for this long is no use: the pumps ring anew
        ttl=QUEUED_TTL_SECONDS,
        result_ttl=0,
        failure_ttl=24 * 3600,
        description="take deliveries",
    )


def ring(connection: redis.Redis, queue_name: str = BELL_QUEUE) -> bool:
    """Enqueue a take job unless one is on its way already; True if it was enqueued."""
    if not connection.set(BELL_KEY, b"1", nx=True, px=int(BELL_TTL_SECONDS * 1000)):
        return False
    enqueue_take(connection, queue_name)
    return True


def answered(connection: redis.Redis) -> None:
    """A take job started: the next delivery stored rings again."""
    connection.delete(BELL_KEY)
