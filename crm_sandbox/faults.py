"""Injected faults: the failures a CRM client must survive, drawn from a seeded RNG.

Each API request draws once: with probability error_before it fails before any write,
error_after fails after the write committed, rate_limit answers 429, hang commits and
then holds the answer. latency_ms delays every request. The same seed and the same
sequence of requests give the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

MODES = ("error_before", "error_after", "rate_limit", "hang")


class FaultSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class FaultSettings:
    seed: int = 0
    error_before: float = 0.0
    error_after: float = 0.0
    rate_limit: float = 0.0
    hang: float = 0.0
    hang_seconds: float = 30.0
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        for mode in MODES:
            share = getattr(self, mode)
            if not 0.0 <= share <= 1.0:
                raise FaultSettingsError(f"{mode} must be between 0 and 1")
        if sum(getattr(self, mode) for mode in MODES) > 1.0 + 1e-9:
            raise FaultSettingsError("the fault fractions must add up to at most 1")
        if self.hang_seconds < 0 or self.latency_ms < 0:
            raise FaultSettingsError("hang_seconds and latency_ms must not be negative")

    @classmethod
    def from_json(cls, data: Any) -> FaultSettings:
        if not isinstance(data, dict):
            raise FaultSettingsError("fault settings must be a JSON object")
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise FaultSettingsError(f"unknown fault settings: {', '.join(unknown)}")
        for key, value in data.items():
            ok = isinstance(value, int) if key == "seed" else isinstance(value, int | float)
            if isinstance(value, bool) or not ok:
                raise FaultSettingsError(f"{key} must be a number")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(settings or FaultSettings())

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def configure(self, settings: FaultSettings) -> None:
        """New settings, and the RNG re-seeded: the sequence starts over."""
        with self._lock:
            self._settings = settings
            self._random = random.Random(settings.seed)

    def draw(self) -> str | None:
        """The fault for the next request, or None."""
        with self._lock:
            point = self._random.random()
            for mode in MODES:
                share: float = getattr(self._settings, mode)
                if point < share:
                    return mode
                point -= share
            return None
