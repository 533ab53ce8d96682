"""Everything `adapter dev` runs, in one process: Redis, the CRM sandbox, a delivery
worker and the web app. Started in that order, stopped in the reverse one."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from adapter.dev.config import configured, dev_settings
from adapter.dev.redis import Backend, RunningRedis, start_redis
from adapter.dev.servers import ThreadedServer
from adapter.dev.state import DevState, remove_state, state_path, write_state
from adapter.ops import create_served_app
from adapter.serving import uvicorn_options
from adapter.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DevOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    sandbox_port: int = 8100
    redis_backend: Backend = "auto"


@dataclass(frozen=True)
class Crm:
    base_url: str
    api_key: str
    # the sandbox in this process, or a CRM named by CRM_BASE_URL
    embedded: bool


class DevStack:
    """`start()` brings everything up (or nothing: a failure stops what started)."""

    def __init__(self, base: Settings, options: DevOptions) -> None:
        self.base = base
        self.options = options
        self._stops = ExitStack()
        self._servers: list[ThreadedServer] = []
        self._worker_alive: Callable[[], bool] = lambda: True
        self.redis: RunningRedis | None = None
        self.crm: Crm | None = None
        self.settings: Settings | None = None
        self.web_url = f"http://{options.host}:{options.port}"
        self.state_file: Path = state_path(base)

    def start(self) -> DevStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        redis_url = self.base.redis_url if configured(self.base, "redis_url") else None
        self.redis = start_redis(redis_url, self.options.redis_backend)
        self._stops.callback(self.redis.stop)

        self.crm = self._start_crm()
        settings = dev_settings(self.base, self.redis.url, self.crm.base_url, self.crm.api_key)
        if settings.admin_token is None:
            # /status on, behind a token made for this run and printed in the banner
            token = SecretStr(secrets.token_urlsafe(18))
            settings = settings.model_copy(update={"admin_token": token})
        self.settings = settings

        # the worker before the web app, so that the web app stops first
        self._start_worker(self.settings)
        web = ThreadedServer(
            create_served_app(self.settings),
            "web app",
            self.options.host,
            self.options.port,
            uvicorn_options(self.settings),
        )
        self._serve(web)
        self._write_state(self.settings)

    @property
    def admin_token(self) -> str:
        assert self.settings is not None
        assert self.settings.admin_token is not None
        return self.settings.admin_token.get_secret_value()

    def _write_state(self, settings: Settings) -> None:
        assert self.redis is not None
        assert self.crm is not None
        state = DevState(
            pid=os.getpid(),
            web_url=self.web_url,
            redis_url=self.redis.url,
            crm_base_url=self.crm.base_url,
            crm_api_key=self.crm.api_key if self.crm.embedded else None,
            admin_token=self.admin_token,
        )
        try:
            write_state(self.state_file, state)
        except OSError as exc:
            log.warning(
                "cannot write %s (%s): other terminals will not find this dev mode",
                self.state_file,
                exc.strerror,
            )
            return
        # registered after the web app's stop: the file goes first, before anything stops
        self._stops.callback(remove_state, self.state_file, state.pid)

    def _start_crm(self) -> Crm:
        if configured(self.base, "crm_base_url"):
            key = self.base.crm_api_key.get_secret_value()
            return Crm(self.base.crm_base_url, key, embedded=False)
        from crm_sandbox.app import API_PREFIX
        from crm_sandbox.app import create_app as create_sandbox
        from crm_sandbox.sandbox import DEV_KEY

        server = ThreadedServer(
            create_sandbox(), "CRM sandbox", self.options.host, self.options.sandbox_port
        )
        self._serve(server)
        return Crm(server.url + API_PREFIX, DEV_KEY, embedded=True)

    def _serve(self, server: ThreadedServer) -> None:
        server.start()
        self._servers.append(server)
        self._stops.callback(server.stop)

    def _start_worker(self, settings: Settings) -> None:
        from workers.runner import WorkerThread

        worker = WorkerThread(settings).start()
        self._worker_alive = worker._thread.is_alive
        self._stops.callback(worker.stop)

    def failed(self) -> str | None:
        """The name of a part that stopped by itself, if any."""
        for server in self._servers:
            if not server.alive:
                return server.name
        if not self._worker_alive():
            return "delivery worker"
        return None

    def stop(self) -> None:
        """Stop what runs: web app first (no new deliveries), Redis last. Idempotent."""
        self._stops.close()
