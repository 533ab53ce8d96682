"""An ASGI app served by uvicorn from a thread of this process.

In a thread, uvicorn installs no signal handlers: the dev mode's main thread owns
SIGINT and SIGTERM and stops each server with `stop()`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from adapter.dev.errors import DevError

GRACEFUL_SHUTDOWN_SECONDS = 5


class ThreadedServer:
    def __init__(
        self, app: ASGIApp, name: str, host: str, port: int, options: dict[str, Any] | None = None
    ) -> None:
        self.name = name
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            # log through the root handler, which masks secrets and personal data
            log_config=None,
            # the access log is one logger for every server in the process, and the
            # sandbox's query strings hold emails and phones: the app and the sandbox
            # log what matters themselves
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            **(options or {}),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        # uvicorn logs why it cannot start (usually: the port is taken), then exits
        with contextlib.suppress(SystemExit):
            self._server.run()

    def start(self, timeout: float = 15.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise DevError(f"the {self.name} could not start on {self.url}")
            if time.monotonic() > deadline:
                raise DevError(f"the {self.name} did not start within {timeout:.0f}s")
            time.sleep(0.02)
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(GRACEFUL_SHUTDOWN_SECONDS + 5)
