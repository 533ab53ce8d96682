"""The Redis of the dev mode: the one named by REDIS_URL, else an embedded one.

Embedded means, in order of preference:

- `redis-server` from PATH as a child process, in memory, on a free loopback port:
  the real thing, so every script, RQ command and blocking pop behaves as in
  production;
- fakeredis's TCP server in a thread of this process, when `redis-server` is not
  installed (it needs `fakeredis[lua]`). Two gaps of fakeredis 2.41 are filled: its
  Lua lacks Redis's built-in `struct` library, which the inbox's enqueue script uses,
  so a Lua copy of the part we use is loaded into it (`adapter.dev.lua_struct`); and
  its CLIENT INFO names addresses in a form redis-py cannot parse, which RQ's worker
  asks for.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal, Protocol

import redis

from adapter.dev import lua_struct
from adapter.dev.errors import DevError

Backend = Literal["auto", "redis-server", "fakeredis"]
BACKENDS: tuple[Backend, ...] = ("auto", "redis-server", "fakeredis")


class RunningRedis(Protocol):
    url: str
    description: str

    def stop(self) -> None: ...


class ExternalRedis:
    """A Redis someone else runs: nothing to start or stop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = "from REDIS_URL"

    def stop(self) -> None:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_ping(url: str, timeout: float, alive: threading.Event | None = None) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if client.ping():
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline or (alive is not None and not alive.is_set()):
                raise DevError(f"Redis at {url} did not answer within {timeout:.0f}s")
            time.sleep(0.05)
    finally:
        client.close()


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when `adapter dev` dies, even by SIGKILL, so an
    embedded redis-server is never left behind."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class RedisServerProcess:
    """`redis-server` as a child: no persistence, loopback only, gone when stopped."""

    def __init__(self, binary: str, timeout: float = 10.0) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="adapter-dev-redis-")
        port = free_port()
        argv = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", self._dir.name,
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--loglevel", "warning",
        ]  # fmt: skip
        log = open(Path(self._dir.name) / "redis.log", "wb")  # noqa: SIM115
        # its own process group: Ctrl-C in the terminal reaches us, and we stop it last
        self._proc = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.url = f"redis://127.0.0.1:{port}/0"
        self.description = f"redis-server (pid {self._proc.pid}, in memory, gone on exit)"
        try:
            wait_for_ping(self.url, timeout)
        except DevError:
            self.stop()
            raise

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._dir.cleanup()


class FakeRedisServer:
    """fakeredis's TCP server in a thread, with Redis's `struct` library added to its Lua."""

    def __init__(self, timeout: float = 10.0) -> None:
        # fakeredis runs scripts with lupa
        if not (importlib.util.find_spec("fakeredis") and importlib.util.find_spec("lupa")):
            raise DevError(
                "no Redis: set REDIS_URL, install redis-server, or pip install 'fakeredis[lua]'"
            )
        import fakeredis
        from fakeredis import TcpFakeServer

        self._dir = tempfile.TemporaryDirectory(prefix="adapter-dev-lua-")
        lua_struct.install(Path(self._dir.name))
        self._server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
        port = self._server.server_address[1]
        self._server.daemon_threads = True
        self._server.RequestHandlerClass = _handler_class()
        # fakeredis makes one Lua runtime per server, on the first script, loading the
        # `lua_modules` of the client that runs it; Lua reads LUA_PATH when it starts.
        previous = os.environ.get("LUA_PATH")
        os.environ["LUA_PATH"] = f"{self._dir.name}/?.lua;;"
        try:
            primer = fakeredis.FakeRedis(
                server=self._server.fake_server, lua_modules={lua_struct.MODULE_NAME}
            )
            loaded = primer.eval("return type(struct) == 'table' and 1 or 0", 0)
            primer.close()
        finally:
            if previous is None:
                os.environ.pop("LUA_PATH", None)
            else:
                os.environ["LUA_PATH"] = previous
        if loaded != 1:
            raise DevError("fakeredis could not load the Lua struct library")
        self._alive = threading.Event()
        self._alive.set()
        self._thread = threading.Thread(target=self._serve, name="fakeredis", daemon=True)
        self._thread.start()
        self.url = f"redis://127.0.0.1:{port}/0"
        self.description = "fakeredis (in this process, in memory)"
        wait_for_ping(self.url, timeout, self._alive)

    def _serve(self) -> None:
        try:
            self._server.serve_forever(poll_interval=0.1)
        finally:
            self._alive.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._dir.cleanup()


def _handler_class() -> type[Any]:
    from fakeredis._clients._tcp_server import TCPFakeRequestHandler

    class Handler(TCPFakeRequestHandler):
        """Reports client addresses as `ip:port`, as Redis does (CLIENT INFO and LIST).

        fakeredis 2.41 puts Python tuples there, which redis-py cannot parse, and RQ
        asks CLIENT INFO for the worker's address."""

        def setup(self) -> None:
            super().setup()
            info = self.current_client.get_socket()._client_info
            for key in ("addr", "laddr"):
                if isinstance(info[key], tuple):
                    host, port = info[key][:2]
                    info[key] = f"{host}:{port}"

    return Handler


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def start_redis(url: str | None, backend: Backend = "auto") -> RunningRedis:
    """`url` if given (REDIS_URL), else an embedded Redis of `backend`."""
    if url:
        return ExternalRedis(url)
    binary = redis_server_path()
    if backend == "redis-server" or (backend == "auto" and binary):
        if binary is None:
            raise DevError("redis-server is not on PATH")
        return RedisServerProcess(binary)
    return FakeRedisServer()
