"""A second terminal finds the running `adapter dev` through its state file: send-test
for every source, status, deadletter, and the /status page with the banner's token."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapter.dev.state import DevState, read_state, remove_state, write_state
from tests.dev.support import Dev
from tests.support.processes import adapter_command
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def state_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state") / "dev.json"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, state_file: Path) -> Iterator[Dev]:
    process = Dev(tmp_path_factory.mktemp("dev"), env={"DEV_STATE_FILE": str(state_file)})
    process.start()
    process.wait_for_line("adapter send-test ")
    yield process
    process.kill()


def second_terminal(dev: Dev, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        adapter_command(*args), env=dev.env, capture_output=True, text=True, timeout=60
    )


def test_the_state_file_names_the_dev_mode_and_only_its_user_reads_it(
    dev: Dev, state_file: Path
) -> None:
    state = json.loads(state_file.read_text())

    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert state["web_url"] == f"http://127.0.0.1:{dev.port}"
    assert state["crm_base_url"] == f"http://127.0.0.1:{dev.sandbox_port}/functions/v1"
    assert state["redis_url"].startswith("redis://127.0.0.1:")
    assert state["admin_token"]


@pytest.mark.parametrize("source", ["shopify", "stripe", "form"])
def test_send_test_reaches_dev_mode_for_every_source(dev: Dev, source: str) -> None:
    sent = second_terminal(dev, "send-test", "--source", source)

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert f"POST http://127.0.0.1:{dev.port}/webhooks/" in sent.stdout
    assert "HTTP 202" in sent.stdout


def test_status_reads_the_dev_modes_redis(dev: Dev) -> None:
    def one_worker() -> dict[str, object] | None:
        shown = second_terminal(dev, "status", "--json")
        assert shown.returncode == 0, shown.stderr
        found: dict[str, object] = json.loads(shown.stdout)
        return found if found["workers"] else None

    assert wait_until(one_worker, timeout=30, interval=0.5, message="the dev worker in status")


def test_deadletter_reads_the_dev_modes_redis(dev: Dev) -> None:
    listed = second_terminal(dev, "deadletter", "list")

    assert listed.returncode == 0, listed.stderr
    assert "dead letter(s)" in listed.stdout


def test_the_banners_status_link_opens_the_status_page(dev: Dev) -> None:
    line = dev.wait_for_line("Status page:")
    link = line.split()[-1]

    with httpx.Client(timeout=10) as http:
        login = http.get(link)
        page = http.get(f"http://127.0.0.1:{dev.port}/status")

    assert login.status_code == 303
    assert page.status_code == 200
    assert "crm-adapter" in page.text


def test_the_state_file_goes_when_dev_mode_stops(tmp_path: Path) -> None:
    state_file = tmp_path / "dev.json"
    process = Dev(tmp_path, env={"DEV_STATE_FILE": str(state_file)}).start()
    try:
        process.wait_for_line("adapter send-test ")
        assert state_file.exists()
        process.signal(signal.SIGTERM)
        # the file goes first, before anything stops
        wait_until(lambda: not state_file.exists(), timeout=30, message="the state file gone")
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def state(pid: int) -> DevState:
    return DevState(pid, "http://127.0.0.1:1", "redis://127.0.0.1:2/0", "http://x", None, "t")


def test_a_state_file_left_by_a_dead_dev_mode_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    write_state(path, state(dead_pid()))

    assert read_state(path) is None


def test_stopping_leaves_a_later_dev_modes_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    write_state(path, state(os.getpid()))

    remove_state(path, dead_pid())

    assert read_state(path) == state(os.getpid())
