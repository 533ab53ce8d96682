"""`adapter dev` arguments that are refused before anything starts."""

from __future__ import annotations

import pytest

from adapter.cli import main
from tests.support.processes import free_port


def test_exit_without_demo_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--exit"]) == 2
    assert "--exit only goes with --demo" in capsys.readouterr().err


def test_no_redis_at_all_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("ADAPTER_CONFIG", raising=False)
    monkeypatch.setattr("adapter.dev.redis.redis_server_path", lambda: None)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    monkeypatch.setattr("signal.signal", lambda *a: None)
    monkeypatch.setattr("adapter.logs.configure_logging", lambda *a: None)

    ports = ["--port", str(free_port()), "--sandbox-port", str(free_port())]
    assert main(["dev", *ports]) == 1
    assert "install redis-server, or pip install 'fakeredis[lua]'" in capsys.readouterr().err
