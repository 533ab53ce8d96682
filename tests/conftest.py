from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import tests.hypothesis_profiles  # noqa: F401  (profiles for every test)
from tests.support.processes import Process, start_redis
from tests.support.shared import FIXTURES, SHARED_SETTING, SKIP_PREFIX, shared_root


@pytest.fixture(autouse=True)
def dev_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's `adapter dev` says where it runs: never the user's own state
    file, so no test follows (or clobbers) a dev mode running on the machine."""
    path = tmp_path / "adapter-dev.json"
    monkeypatch.setenv("DEV_STATE_FILE", str(path))
    return path


@pytest.fixture(scope="session")
def redis_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """One real redis-server for the session, on a free loopback port, with AOF as deployed."""
    proc = start_redis(tmp_path_factory.mktemp("redis"), aof=True)
    yield proc
    proc.stop()


@pytest.fixture
def redis_url(redis_process: Process) -> Iterator[str]:
    """A scratch database on the real server, flushed before and after each test."""
    url = f"redis://127.0.0.1:{redis_process.port}/0"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def fixtures_dir() -> Path:
    """The repository's own payloads (tests/fixtures)."""
    return FIXTURES


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """One line, after pytest's own summary, naming the conformance tests that did not run."""
    yield
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and SKIP_PREFIX in str(report.longrepr[2])
    ]
    if not skipped:
        return None
    where = {str(report.nodeid).split("::")[0] or str(report.longrepr[0]) for report in skipped}
    terminalreporter.write_line(
        f"conformance: {len(skipped)} not run ({', '.join(sorted(where))}): "
        f"{shared_root()} is missing; set {SHARED_SETTING} to run them",
        yellow=True,
    )
    return None
