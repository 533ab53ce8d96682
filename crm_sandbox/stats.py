"""What clients really sent: requests by endpoint and status, bulk rows, limits, faults,
and a log of the last requests (method, path, query string, status, bulk rows)."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Any

from crm_sandbox.faults import MODES

BULK_PATHS = ("/create-deals-bulk", "/import-contacts-bulk", "/create-leads-bulk")
# requests kept in the log; older ones fall off
LOG_SIZE = 10_000


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: defaultdict[str, defaultdict[str, int]] = defaultdict(
                lambda: defaultdict(int)
            )
            self._bulk_rows: dict[str, list[int]] = {path: [] for path in BULK_PATHS}
            self._rate_limited = 0
            self._faults = dict.fromkeys(MODES, 0)
            self._total = 0
            # org id -> "METHOD /path" -> status -> count: which organisation each
            # request reached (requests with an unknown key reach none)
            self._orgs: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = defaultdict(
                lambda: defaultdict(lambda: defaultdict(int))
            )
            self._log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)

    def request(
        self,
        method: str,
        path: str,
        status: int,
        org_id: str | None = None,
        query: str = "",
        rows: int | None = None,
    ) -> None:
        with self._lock:
            self._requests[f"{method} {path}"][str(status)] += 1
            self._total += 1
            if org_id is not None:
                self._orgs[org_id][f"{method} {path}"][str(status)] += 1
            entry = {"n": self._total, "method": method, "path": path, "query": query}
            entry.update(status=status, rows=rows)
            self._log.append(entry)

    def log(self, after: int = 0) -> list[dict[str, Any]]:
        """The logged requests numbered above `after`, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._log if entry["n"] > after]

    def bulk_rows(self, path: str, rows: int) -> None:
        with self._lock:
            self._bulk_rows.setdefault(path, []).append(rows)

    def rate_limited(self) -> None:
        with self._lock:
            self._rate_limited += 1

    def fault(self, mode: str) -> None:
        with self._lock:
            self._faults[mode] += 1

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": {k: dict(v) for k, v in self._requests.items()},
                "bulk_rows": {k: list(v) for k, v in self._bulk_rows.items()},
                "rate_limited": self._rate_limited,
                "faults": dict(self._faults),
                "total_requests": self._total,
                "orgs": {
                    org: {k: dict(v) for k, v in requests.items()}
                    for org, requests in self._orgs.items()
                },
            }
