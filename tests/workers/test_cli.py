from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from adapter.cli import main
from tests.support.processes import adapter_command
from tests.workers.commands import upsert_deal
from workers.deadletters import DeadLetters, command_letter
from workers.outbox import Entry, Kind, Outbox


@pytest.fixture
def letters(
    redis_url: str, connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> DeadLetters:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("ADAPTER_CONFIG", raising=False)
    store = DeadLetters(connection)
    entry = Entry(command=upsert_deal(1, email="secret@example.com"))
    store.put(command_letter("42", entry, "Contact not found", 400))
    return store


def test_list_shows_dead_letters_without_personal_data(
    letters: DeadLetters, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deadletter", "list"]) == 0
    out = capsys.readouterr().out
    assert "cmd-42" in out
    assert "Contact not found" in out
    assert "secret@example.com" not in out


def test_show_prints_the_whole_letter(
    letters: DeadLetters, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deadletter", "show", "cmd-42"]) == 0
    assert "secret@example.com" in capsys.readouterr().out


def test_replay_queues_the_command_again(letters: DeadLetters, connection: redis.Redis) -> None:
    assert main(["deadletter", "replay", "cmd-42"]) == 0
    assert letters.count() == 0
    assert Outbox(connection).backlog(Kind.DEALS).total == 1


def test_replay_all_and_drop(letters: DeadLetters, connection: redis.Redis) -> None:
    assert main(["deadletter", "drop", "cmd-42"]) == 0
    assert main(["deadletter", "drop", "cmd-42"]) == 1
    assert main(["deadletter", "replay", "--all"]) == 0
    assert Outbox(connection).size() == 0


def test_workers_never_import_the_web_app() -> None:
    code = (
        "import sys, workers.jobs, workers.runner, adapter.cli.worker, adapter.cli.deadletter;"
        "bad = [m for m in sys.modules if m in ('adapter.app', 'adapter.inbox')"
        " or m.startswith('adapter.sources')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_worker_refuses_an_invalid_setting_naming_it() -> None:
    result = subprocess.run(
        adapter_command("worker", "--burst"),
        env={**os.environ, "CRM_RATE_LIMIT_PER_MINUTE": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78  # EXIT_CONFIG
    assert "CRM_RATE_LIMIT_PER_MINUTE" in result.stderr
