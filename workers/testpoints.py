"""Named instants where a test can freeze a worker, to kill it exactly there.

`ADAPTER_TEST_PAUSE_AT=<name>` (read here and nowhere else) makes the worker that
reaches `pause_at(<name>)` log "paused at <name>" and block for good, so a test can
SIGKILL it at that instant. Unset (always, outside tests) it does nothing.

Names: `after-dequeue` (RQ took the take job, not yet registered it as started),
`after-claim` (deliveries leased, not yet mapped), `after-map` (mapped, not yet in the
outbox), `after-outbox` (in the outbox, not yet acknowledged in the ledger).
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

ENV = "ADAPTER_TEST_PAUSE_AT"
_PAUSE_AT = os.environ.get(ENV, "")


def pause_at(name: str) -> None:
    if name != _PAUSE_AT:
        return
    log.warning("paused at %s (%s is set: this process waits to be killed)", name, ENV)
    threading.Event().wait()
