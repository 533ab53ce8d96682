from __future__ import annotations

import subprocess

import pytest

from adapter import __version__
from adapter.cli import main
from tests.support.processes import adapter_command


def test_version_prints_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.slow
def test_console_script_help_lists_usage() -> None:
    result = subprocess.run(adapter_command("--help"), capture_output=True, text=True, check=True)
    assert "usage: adapter" in result.stdout
