"""The CRM's limit of N requests a minute per API key, as a sliding window log.

A request is admitted when fewer than N requests of its key were admitted in the
last 60 seconds; a refused request is not counted. The adapter's client-side limiter
mirrors exactly this rule.
"""

from __future__ import annotations

import math
import threading
from collections import deque

WINDOW_SECONDS = 60.0
DEFAULT_PER_MINUTE = 120


class SlidingWindowLimiter:
    def __init__(self, per_minute: int = DEFAULT_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._admitted: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str, now: float) -> int | None:
        """None when admitted; otherwise whole seconds until the oldest admission expires."""
        if self.per_minute <= 0:
            return None
        with self._lock:
            log = self._admitted.setdefault(key, deque())
            while log and log[0] <= now - WINDOW_SECONDS:
                log.popleft()
            if len(log) < self.per_minute:
                log.append(now)
                return None
            return max(1, math.ceil(log[0] + WINDOW_SECONDS - now))

    def reset(self) -> None:
        with self._lock:
            self._admitted.clear()
