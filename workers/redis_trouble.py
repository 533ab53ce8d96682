"""Redis refusing work, in words: full, read-only, or gone; and waiting for it to recover.

A worker never exits because Redis is in trouble: it says once what is wrong, waits
with backoff, and carries on when Redis accepts writes again (`Waiting`).
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from adapter.redis_safety import describe_trouble, probe_writes

log = logging.getLogger(__name__)


def is_trouble(exc: BaseException) -> bool:
    return describe_trouble(exc) is not None


# what this process last said about Redis: its threads (RQ's loop, the pump) wait on
# the same trouble, and it is said once
_said: dict[str, str | None] = {"what": None}
_said_lock = threading.Lock()


def _say(what: str | None) -> bool:
    with _said_lock:
        if _said["what"] == what:
            return False
        _said["what"] = what
        return True


class Waiting:
    """Waits out Redis trouble with backoff, logging one line when it starts and one
    when it ends (not one per attempt, nor one per thread)."""

    def __init__(self, connection: redis.Redis, *, base: float = 0.5, cap: float = 10.0) -> None:
        self.connection = connection
        self.base = base
        self.cap = cap
        self._since: float | None = None
        self._what: str | None = None

    def until_writable(self, stop: threading.Event, *, why: str | None = None) -> bool:
        """Block until Redis accepts writes (True) or `stop` is set (False)."""
        delay = self.base
        what = probe_writes(self.connection)
        while what is not None:
            if what != self._what:
                if _say(what):
                    log.warning("%s; waiting, and resuming by itself once it accepts writes", what)
                self._what = what
                self._since = self._since or time.monotonic()
            if stop.wait(delay):
                return False
            delay = min(self.cap, delay * 2)
            what = probe_writes(self.connection)
        if self._since is not None:
            if _say(None):
                log.warning(
                    "Redis accepts writes again after %.0fs; resuming",
                    time.monotonic() - self._since,
                )
        elif why:
            log.warning("%s; starting again in %.1fs", why, delay)
            if stop.wait(delay):
                return False
        self._since = self._what = None
        return True
