"""`adapter dev` as a subprocess, the way a new user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import adapter_command, free_port
from tests.support.waiting import wait_until

DEV_KEY = "cg_sandbox_dev_key"
# what a fresh shell has none of: the dev mode must bring its own Redis and CRM
UNSET = ("REDIS_URL", "CRM_BASE_URL", "CRM_API_KEY", "ADAPTER_CONFIG")


def user_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    # where `pip install -e .` put the `adapter` script, as on the user's PATH
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Dev:
    """`python -m adapter dev` on free ports; stdout collected line by line."""

    def __init__(self, workdir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.env = {**user_env(), **(env or {})}
        self.port = free_port()
        self.sandbox_port = free_port()
        self.argv = adapter_command(
            "dev", "--port", str(self.port), "--sandbox-port", str(self.sandbox_port), *args
        )
        self.log_path = workdir / "dev.log"
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> Dev:
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True
        )
        log.close()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def wait_for_line(self, prefix: str, timeout: float = 60.0) -> str:
        def found() -> str | None:
            assert self.proc is not None
            if self.proc.poll() is not None and not self._reading():
                raise AssertionError(f"adapter dev exited {self.proc.returncode}\n{self.logs()}")
            return next((ln.strip() for ln in self.lines if ln.strip().startswith(prefix)), None)

        line = wait_until(found, timeout=timeout, interval=0.05, message=f"a line {prefix!r}")
        assert line is not None
        return line

    def _reading(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def deals(self) -> list[dict[str, Any]]:
        """Every deal in the dev mode's sandbox CRM, read over HTTP."""
        response = httpx.get(
            f"http://127.0.0.1:{self.sandbox_port}/functions/v1/rest-api-proxy/deals",
            params={"select": "title,value,currency,stage,custom_fields"},
            headers={"X-API-Key": DEV_KEY},
            timeout=10,
        )
        response.raise_for_status()
        deals: list[dict[str, Any]] = response.json()
        return deals
