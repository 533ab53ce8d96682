"""Debian's headless Chromium, driven from tests: dump the DOM, take a screenshot, or
speak the DevTools protocol over its websocket (with the `websockets` package)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.processes import Process
from tests.support.waiting import wait_until

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--no-default-browser-check",
    "--window-size=1280,1400",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _argv(profile: Path, *extra: str) -> list[str]:
    binary = chromium()
    assert binary is not None
    return [binary, *FLAGS, f"--user-data-dir={profile}", *extra]


def dump_dom(url: str, profile: Path) -> str:
    done = subprocess.run(
        _argv(profile, "--dump-dom", url), capture_output=True, text=True, timeout=90, check=True
    )
    return done.stdout


def screenshot(url: str, path: Path, profile: Path, size: tuple[int, int] | None = None) -> None:
    """A PNG of the page; `size` (width, height in CSS pixels) sets the window."""
    window = [f"--window-size={size[0]},{size[1]}"] if size else []
    subprocess.run(
        _argv(profile, *window, f"--screenshot={path}", url),
        capture_output=True,
        timeout=90,
        check=True,
    )


def _page_socket(profile: Path) -> str:
    """The DevTools websocket of the browser's page, once Chromium says where it listens."""
    port_file = profile / "DevToolsActivePort"
    wait_until(port_file.exists, timeout=60, message="Chromium's DevTools port")
    port = int(wait_until(lambda: port_file.read_text().split("\n")[0], timeout=10))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
        targets = json.loads(answer.read())
    page = next(t for t in targets if t["type"] == "page")
    url: str = page["webSocketDebuggerUrl"]
    return url


class DevTools:
    """One page of a headless Chromium, driven by DevTools-protocol commands.

    `with DevTools(profile) as browser:` starts Chromium and connects; leaving stops it.
    """

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self._stack = ExitStack()
        argv = _argv(profile, "--remote-debugging-port=0", "about:blank")
        self.process = Process(argv, None, log_path=profile.parent / "chromium.log").start()
        self._stack.callback(self.process.stop)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        try:
            self.socket: ClientConnection = self._stack.enter_context(
                connect(_page_socket(profile), max_size=None)
            )
            self.send("Page.enable")
        except BaseException:
            self._stack.close()
            raise

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and return its result (events that arrive meanwhile are kept)."""
        command_id = next(self._ids)
        self.socket.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for n, event in enumerate(self.events):
                if event.get("method") == method:
                    del self.events[: n + 1]
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {method} within {timeout}s")
            self.events.append(json.loads(self.socket.recv(timeout=left)))

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def load(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")

    def __enter__(self) -> DevTools:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()
