"""What `adapter status` reads: worker heartbeats and the last CRM error, in Redis."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import redis

from adapter.crm.errors import CrmError
from workers.privacy import scrub

LAST_ERROR_KEY = "crm:status:last_error"
LAST_SUCCESS_KEY = "crm:status:last_success"
WORKERS_KEY = "crm:status:workers"
# a heartbeat older than this means the worker is gone
HEARTBEAT_TTL = 30.0


def record_crm_error(connection: redis.Redis, error: CrmError | str) -> None:
    message = error.message if isinstance(error, CrmError) else error
    status = error.status if isinstance(error, CrmError) else None
    kind = type(error).__name__ if isinstance(error, CrmError) else "RowError"
    body = {"at": time.time(), "type": kind, "status": status, "message": scrub(message)[:500]}
    connection.set(LAST_ERROR_KEY, json.dumps(body))


def record_crm_success(connection: redis.Redis) -> None:
    connection.set(LAST_SUCCESS_KEY, str(time.time()))


def beat(connection: redis.Redis, name: str, queues: list[str]) -> None:
    """This worker is alive (called every second or so by its pump)."""
    info = {"at": time.time(), "pid": os.getpid(), "host": socket.gethostname(), "queues": queues}
    connection.hset(WORKERS_KEY, name, json.dumps(info))


def gone(connection: redis.Redis, name: str) -> None:
    connection.hdel(WORKERS_KEY, name)


def read_status(connection: redis.Redis) -> dict[str, Any]:
    """Live workers, the last CRM error and the last success (Unix times)."""
    now = time.time()
    workers = {}
    for name, raw in connection.hgetall(WORKERS_KEY).items():
        info = json.loads(raw)
        if now - float(info.get("at", 0)) <= HEARTBEAT_TTL:
            workers[name] = info
    error = connection.get(LAST_ERROR_KEY)
    success = connection.get(LAST_SUCCESS_KEY)
    return {
        "workers": workers,
        "last_crm_error": json.loads(error) if error else None,
        "last_crm_success": float(success) if success else None,
    }
