"""Running the sandbox under uvicorn: in the foreground for the CLI, or in a thread."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

import uvicorn
from starlette.applications import Starlette

from crm_sandbox.app import API_PREFIX, create_app
from crm_sandbox.faults import FaultSettings
from crm_sandbox.ratelimit import DEFAULT_PER_MINUTE
from crm_sandbox.sandbox import DEV_KEY, generate_key

# A held (hanging) answer must not keep a stopping server alive for its whole hold.
GRACEFUL_SHUTDOWN_SECONDS = 2


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8100
    db_path: str | None = None
    api_keys: Sequence[str] = ()
    rate_limit: int = DEFAULT_PER_MINUTE
    faults: FaultSettings = field(default_factory=FaultSettings)
    log_level: str = "info"


def _config(app: Starlette, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,  # uvicorn's access log prints query strings: emails and phones
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def serve(options: ServeOptions, out: TextIO = sys.stdout) -> int:
    """Run until interrupted; print the base URL and the API keys first."""
    keys = list(options.api_keys) or [generate_key()]
    app = create_app(
        db_path=options.db_path,
        api_keys=keys,
        rate_limit=options.rate_limit,
        faults=options.faults,
    )
    org = app.state.sandbox.ensure_default_org([])
    logging.getLogger("crm_sandbox").setLevel(options.log_level.upper())
    if not logging.getLogger("crm_sandbox").handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s crm_sandbox %(message)s"))
        logging.getLogger("crm_sandbox").addHandler(handler)
    base = f"http://{options.host}:{options.port}{API_PREFIX}"
    print(f"CRM sandbox: {base}", file=out)
    print(f"  organisation {org.org_id}, pipeline {org.pipeline_id}", file=out)
    for key in keys:
        print(f"  API key: {key}", file=out)
    print(f"  dev key: {DEV_KEY}", file=out)
    print(f"  storage: {options.db_path or 'in memory'}", file=out)
    out.flush()
    uvicorn.Server(_config(app, options.host, options.port, options.log_level)).run()
    return 0


class ThreadedServer:
    """A sandbox served from a background thread, for the dev mode and tests."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 8100) -> None:
        self.app = app
        self.base_url = f"http://{host}:{port}{API_PREFIX}"
        self._server = uvicorn.Server(_config(app, host, port, "warning"))
        self._thread = threading.Thread(target=self._server.run, name="crm-sandbox", daemon=True)

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the CRM sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(GRACEFUL_SHUTDOWN_SECONDS + 5)
