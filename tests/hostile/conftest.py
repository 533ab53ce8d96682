from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.hostile.catalogue import CONFIG, server_env
from tests.support.processes import Process, adapter_command, free_port, start_redis

ROOT = Path(__file__).resolve().parents[2]
LOG_FORMATS = ("json", "text")


@dataclass
class Served:
    """`adapter serve` on a loopback port, logging everything to `log_path`."""

    process: Process
    port: int
    store: redis.Redis
    log_path: Path
    log_format: str
    sent: set[str] = field(default_factory=set)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Records(logging.Handler):
    """Every log record of the test process, formatted, exception text included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="session")
def hostile_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    proc = start_redis(tmp_path_factory.mktemp("hostile-redis"))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def test_records() -> Iterator[Records]:
    """Captures the test process's own log records while the catalogue runs."""
    handler = Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="module", params=LOG_FORMATS)
def served(
    request: pytest.FixtureRequest,
    hostile_redis: Process,
    tmp_path_factory: pytest.TempPathFactory,
    test_records: Records,
) -> Iterator[Served]:
    log_format: str = request.param
    workdir = tmp_path_factory.mktemp(f"hostile-{log_format}")
    config = workdir / "adapter.toml"
    config.write_text(CONFIG)
    db = LOG_FORMATS.index(log_format) + 1
    url = f"redis://127.0.0.1:{hostile_redis.port}/{db}"
    store = redis.Redis.from_url(url)
    store.flushdb()
    port = free_port()
    log_path = workdir / "serve.log"
    process = Process(
        adapter_command("serve", "--port", str(port)),
        port,
        env=server_env(url, str(config), log_format),
        log_path=log_path,
        cwd=ROOT,
    ).start()
    yield Served(process, port, store, log_path, log_format)
    process.stop()
    store.flushdb()
    store.close()
