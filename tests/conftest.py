from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import tests.hypothesis_profiles  # noqa: F401  (profiles for every test)
from tests.support.processes import Process, start_redis

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(autouse=True)
def dev_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's `adapter dev` says where it runs: never the user's own state
    file, so no test follows (or clobbers) a dev mode running on the machine."""
    path = tmp_path / "adapter-dev.json"
    monkeypatch.setenv("DEV_STATE_FILE", str(path))
    return path


@pytest.fixture(scope="session")
def redis_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """One real redis-server for the session, on a free loopback port."""
    proc = start_redis(tmp_path_factory.mktemp("redis"))
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
    return FIXTURES
