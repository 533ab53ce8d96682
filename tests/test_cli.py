from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from adapter import __version__
from adapter.cli import main
from adapter.cli.failures import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_UNAVAILABLE, guarded
from adapter.crm.errors import CrmUnavailable, PermanentCrmError
from adapter.settings import Settings
from tests.support.processes import Process, adapter_command, free_port, port_open


def test_version_prints_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.slow
def test_console_script_help_lists_usage() -> None:
    result = subprocess.run(adapter_command("--help"), capture_output=True, text=True, check=True)
    assert "usage: adapter" in result.stdout


# --- failing loudly: one line naming the setting or the service, a documented status ---


def clean_env(**values: str) -> dict[str, str]:
    """A shell with none of the adapter's settings, then `values`."""
    names = {field.upper() for field in Settings.model_fields} | {"ADAPTER_CONFIG"}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    return {**env, "DEV_STATE_FILE": os.environ["DEV_STATE_FILE"], **values}


def adapter(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        adapter_command(*args), env=env, capture_output=True, text=True, timeout=60, check=False
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_serve_with_nothing_configured_says_no_source_is_configured() -> None:
    result = adapter("serve", "--port", str(free_port()), env=clean_env())

    err = one_line_error(result, EXIT_CONFIG)
    assert "adapter serve: no webhook source is configured: set SHOPIFY_WEBHOOK_SECRETS" in err


def test_worker_with_an_empty_crm_key_says_so_before_starting() -> None:
    result = adapter("worker", env=clean_env(CRM_API_KEY=""))

    err = one_line_error(result, EXIT_CONFIG)
    assert "adapter worker: CRM_API_KEY is not set" in err


def test_dev_with_a_crm_url_but_no_key_says_so() -> None:
    env = clean_env(CRM_BASE_URL="http://127.0.0.1:9/functions/v1")
    ports = ("--port", str(free_port()), "--sandbox-port", str(free_port()))

    err = one_line_error(adapter("dev", *ports, env=env), EXIT_CONFIG)
    assert "adapter dev: CRM_API_KEY is not set" in err


@pytest.mark.parametrize(
    "argv",
    [
        ("worker",),
        ("deadletter", "list"),
        ("status",),
        ("dev", "--port", "0", "--sandbox-port", "0"),
    ],
    ids=lambda argv: argv[0],
)
def test_redis_down_is_one_line_naming_the_url_without_its_password(
    argv: tuple[str, ...],
) -> None:
    url = f"redis://:hunter2-pass@127.0.0.1:{free_port()}/0"
    env = clean_env(REDIS_URL=url, CRM_API_KEY="cg_key", SHOPIFY_WEBHOOK_SECRETS="s")

    err = one_line_error(adapter(*argv, env=env), EXIT_UNAVAILABLE)
    assert f"adapter {argv[0]}: Redis at redis://:***@127.0.0.1:" in err
    assert "does not answer" in err
    assert "hunter2" not in err


@pytest.mark.parametrize("command", ["serve", "worker", "status", "config"])
def test_a_redis_url_without_a_scheme_is_one_line(command: str) -> None:
    env = clean_env(REDIS_URL="localhost:6379", CRM_API_KEY="cg_key", SHOPIFY_WEBHOOK_SECRETS="s")
    argv = ["config", "check"] if command == "config" else [command]

    err = one_line_error(adapter(*argv, env=env), EXIT_CONFIG)
    assert "REDIS_URL: has no scheme: write it as redis://host:6379/0" in err


@pytest.mark.parametrize("command", ["serve", "dev"])
def test_a_taken_port_is_named_with_the_flag_and_nothing_starts(command: str) -> None:
    env = clean_env(SHOPIFY_WEBHOOK_SECRETS="s")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sandbox_port = free_port()
        extra = ("--sandbox-port", str(sandbox_port)) if command == "dev" else ()

        result = adapter(command, "--port", str(port), *extra, env=env)

    err = one_line_error(result, EXIT_UNAVAILABLE)
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "pick another port with --port" in err
    assert "Started server process" not in result.stdout + result.stderr
    assert not port_open(sandbox_port)


def test_ctrl_c_on_the_sandbox_exits_130_without_a_traceback(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "sandbox.log"
    process = Process(adapter_command("sandbox", "--port", str(port)), port, log_path=log)
    process.start()
    assert process.proc is not None

    process.proc.send_signal(signal.SIGINT)

    assert process.proc.wait(timeout=30) == EXIT_INTERRUPTED
    assert "Traceback" not in log.read_text()


def test_failures_of_redis_the_crm_and_ports_become_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse(exc: Exception) -> Callable[[], int]:
        def run() -> int:
            raise exc

        return run

    in_use = OSError(errno.EADDRINUSE, "Address already in use")
    assert guarded("x", refuse(redis.ConnectionError("Error 111 connecting"))) == 69
    assert guarded("x", refuse(CrmUnavailable("connection refused"))) == 69
    assert guarded("x", refuse(PermanentCrmError("invalid api key", status=401))) == 69
    assert guarded("x", refuse(in_use)) == 69
    lines = capsys.readouterr().err.splitlines()
    assert (
        lines[0]
        == "adapter x: Redis does not answer (Error 111 connecting); start it, or set REDIS_URL"
    )
    assert lines[2] == "adapter x: the CRM answered 401: invalid api key"
    assert "--port" in lines[3]


def test_ctrl_c_is_exit_130_and_a_bug_keeps_its_traceback() -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    def bug() -> int:
        raise ZeroDivisionError

    assert guarded("x", interrupted) == EXIT_INTERRUPTED
    with pytest.raises(ZeroDivisionError):
        guarded("x", bug)
