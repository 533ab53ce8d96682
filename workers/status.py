"""What `adapter status` reads: worker heartbeats, and per tenant the last CRM error,
the last success and whether the CRM refuses its API key, in Redis.

Every tenant's CRM keys are under its namespace (`adapter.tenants.tenant_namespace`):
the default tenant's are the plain names they always had.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Any

import redis

from adapter.crm.errors import CrmError
from workers.privacy import scrub

log = logging.getLogger(__name__)

LAST_ERROR_KEY = "crm:status:last_error"
LAST_SUCCESS_KEY = "crm:status:last_success"
# set while the tenant's CRM refuses its API key (401/403): since when, and why
KEY_REFUSED_KEY = "crm:status:key_refused"
# requests in a row that got no answer (timeout, refused connection); reset by a success
UNANSWERED_KEY = "crm:status:unanswered"
UNANSWERED_PAUSE_FIRST = 5.0
UNANSWERED_PAUSE_CAP = 30.0
WORKERS_KEY = "crm:status:workers"
# a heartbeat older than this means the worker is gone
HEARTBEAT_TTL = 30.0


def _tenant_of(ns: str) -> str:
    return ns.removeprefix("tenant:").rstrip(":") or "default"


def record_crm_error(connection: redis.Redis, error: CrmError | str, ns: str = "") -> None:
    message = error.message if isinstance(error, CrmError) else error
    status = error.status if isinstance(error, CrmError) else None
    kind = type(error).__name__ if isinstance(error, CrmError) else "RowError"
    body = {"at": time.time(), "type": kind, "status": status, "message": scrub(message)[:500]}
    connection.set(ns + LAST_ERROR_KEY, json.dumps(body))


def unanswered_pause(connection: redis.Redis, ns: str = "") -> float:
    """How long the tenant pauses after one more request got no answer: 5 s, 10 s, 20 s,
    then 30 s while its CRM stays silent, so that a CRM that hangs holds a worker once
    per pause instead of on every request, and the other tenants keep the workers. The
    first pause is longer than a flush sleeps through in place (`inline_wait`), so a
    paused tenant's flush ends at once."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.incr(ns + UNANSWERED_KEY)
        pipe.expire(ns + UNANSWERED_KEY, 600)
        count, _ = pipe.execute()
    return min(UNANSWERED_PAUSE_CAP, UNANSWERED_PAUSE_FIRST * 2.0 ** min(int(count) - 1, 3))


def record_crm_success(connection: redis.Redis, ns: str = "") -> None:
    """The tenant's CRM took a request: its key works (again, if it was refused)."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.set(ns + LAST_SUCCESS_KEY, str(time.time()))
        pipe.delete(ns + KEY_REFUSED_KEY)
        pipe.delete(ns + UNANSWERED_KEY)
        _, cleared, _ = pipe.execute()
    if cleared:
        log.warning(
            "tenant %s: the CRM accepts its API key again; delivery resumes", _tenant_of(ns)
        )


def record_key_refused(
    connection: redis.Redis, error: CrmError, probe: float, ns: str = ""
) -> None:
    """The tenant's CRM refused its API key: say so once (loudly), until it works again."""
    body = {"since": time.time(), "status": error.status, "message": scrub(error.message)[:200]}
    if connection.set(ns + KEY_REFUSED_KEY, json.dumps(body), nx=True):
        log.error(
            "tenant %s: the CRM refused its API key (%s); its deliveries wait, none is "
            "dropped; trying again every %.0fs (fix the key: delivery resumes by itself)",
            _tenant_of(ns),
            error.status,
            probe,
        )


def key_refused(connection: redis.Redis, ns: str = "") -> dict[str, Any] | None:
    """Since when (and why) the tenant's CRM refuses its key; None while it works."""
    raw = connection.get(ns + KEY_REFUSED_KEY)
    found = json.loads(raw) if raw else None
    return found if isinstance(found, dict) else None


def beat(connection: redis.Redis, name: str, queues: list[str]) -> None:
    """This worker is alive (called every second or so by its pump)."""
    info = {"at": time.time(), "pid": os.getpid(), "host": socket.gethostname(), "queues": queues}
    connection.hset(WORKERS_KEY, name, json.dumps(info))


def gone(connection: redis.Redis, name: str) -> None:
    connection.hdel(WORKERS_KEY, name)


def read_status(connection: redis.Redis, ns: str = "") -> dict[str, Any]:
    """Live workers, and the tenant's last CRM error and last success (Unix times)."""
    now = time.time()
    workers = {}
    for name, raw in connection.hgetall(WORKERS_KEY).items():
        info = json.loads(raw)
        if now - float(info.get("at", 0)) <= HEARTBEAT_TTL:
            workers[name] = info
    error = connection.get(ns + LAST_ERROR_KEY)
    success = connection.get(ns + LAST_SUCCESS_KEY)
    return {
        "workers": workers,
        "last_crm_error": json.loads(error) if error else None,
        "last_crm_success": float(success) if success else None,
    }
