"""Real servers for tests: redis-server and our own commands, on 127.0.0.1 ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Process:
    """A child process that listens on a port; stopped and reaped on `stop()`."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int | None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Process:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd
        )
        if self.port is not None:
            port = self.port
            wait_until(
                lambda: self._alive_or_raise() and port_open(port),
                timeout=timeout,
                message=f"{self.argv[0]} listening on {port}",
            )
        return self

    def _alive_or_raise(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""
            raise RuntimeError(f"{self.argv} exited with {self.proc.returncode}\n{log}")
        return True

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    return found


def start_redis(
    workdir: Path, port: int | None = None, aof: bool = False, extra: Sequence[str] = ()
) -> Process:
    """`extra`: more redis-server options, such as ("--maxmemory-policy", "allkeys-lru")."""
    port = port or free_port()
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "yes" if aof else "no",
        "--protected-mode",
        "no",
        *extra,
    ]
    return Process(argv, port, log_path=workdir / "redis.log").start()


def adapter_command(*args: str) -> list[str]:
    """argv for the `adapter` console script of this interpreter's environment."""
    return [sys.executable, "-m", "adapter", *args]
