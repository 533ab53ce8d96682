"""One emulated CRM: its store, API keys, rate limiter, faults, stats and clocks."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from crm_sandbox.faults import FaultInjector, FaultSettings
from crm_sandbox.ratelimit import DEFAULT_PER_MINUTE, SlidingWindowLimiter
from crm_sandbox.records import timestamp, utc_now
from crm_sandbox.stats import Stats
from crm_sandbox.store import OrgInfo, Store

DEV_KEY = "cg_sandbox_dev_key"
DEFAULT_ORG_NAME = "default"


class KeyTakenError(ValueError):
    pass


def generate_key() -> str:
    return "cg_test_" + secrets.token_hex(16)


class Sandbox:
    def __init__(
        self,
        store: Store,
        rate_limit: int = DEFAULT_PER_MINUTE,
        faults: FaultSettings | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.limiter = SlidingWindowLimiter(rate_limit)
        self.faults = FaultInjector(faults)
        self.stats = Stats()
        self.monotonic = monotonic
        self.wall_clock = wall_clock
        self.sleep = sleep
        self._keys_lock = threading.Lock()
        with store.transaction() as tx:
            self._keys = tx.all_keys()

    def now(self) -> str:
        return timestamp(self.wall_clock())

    def org_for_key(self, key: str) -> str | None:
        return self._keys.get(key)

    def ensure_default_org(self, api_keys: Iterable[str]) -> OrgInfo:
        """The organisation the CLI's keys belong to, created on first start."""
        with self._keys_lock, self.store.transaction() as tx:
            org = tx.default_org() or tx.create_org(DEFAULT_ORG_NAME, [], is_default=True)
            for key in api_keys:
                owner = self._keys.get(key)
                if owner is not None and owner != org.org_id:
                    raise KeyTakenError("that API key belongs to another organisation")
                tx.add_key(org.org_id, key)
            self._keys = tx.all_keys()
            info = tx.org(org.org_id)
        assert info is not None
        return info

    def create_org(self, name: str, api_key: str | None = None) -> tuple[OrgInfo, str]:
        key = api_key or generate_key()
        with self._keys_lock, self.store.transaction() as tx:
            if key in self._keys:
                raise KeyTakenError("api_key is already registered")
            org = tx.create_org(name, [key])
            self._keys = tx.all_keys()
        return org, key

    def revoke_key(self, key: str) -> str | None:
        """The key stops working at once (401); the organisation it belonged to."""
        with self._keys_lock, self.store.transaction() as tx:
            owner = tx.remove_key(key)
            self._keys = tx.all_keys()
        return owner

    def add_key(self, org_id: str, key: str) -> OrgInfo | None:
        """Give an organisation one more key (or a revoked one back); None: no such org."""
        with self._keys_lock, self.store.transaction() as tx:
            info = tx.org(org_id)
            if info is None:
                return None
            owner = self._keys.get(key)
            if owner is not None and owner != org_id:
                raise KeyTakenError("api_key is already registered")
            tx.add_key(org_id, key)
            self._keys = tx.all_keys()
            return tx.org(org_id)

    def reset(self) -> None:
        """Forget contacts, deals, stats, rate-limit windows and faults; keep orgs and keys."""
        with self.store.transaction() as tx:
            tx.clear_data()
        self.stats.reset()
        self.limiter.reset()
        self.faults.configure(FaultSettings())
