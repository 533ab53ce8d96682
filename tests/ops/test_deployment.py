"""What can be checked of the deployment files without a Docker engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from adapter.cli import SUBCOMMANDS
from adapter.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|API_KEY|PRIVATE", re.IGNORECASE)
COMPOSE_ONLY = {"WEB_PORT", "RQ_DASHBOARD_USERNAME", "RQ_DASHBOARD_PASSWORD", "RQ_DASHBOARD_PORT"}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def test_final_image_is_python_311_slim() -> None:
    assert final_stage()[0] == ("FROM", "python:3.11-slim")


def test_image_runs_as_a_non_root_user() -> None:
    users = [args for kw, args in final_stage() if kw == "USER"]
    assert users, "the final stage sets no USER"
    assert users[-1] not in ("root", "0", "0:0")


def test_default_command_serves_on_all_interfaces() -> None:
    cmds = [args for kw, args in final_stage() if kw == "CMD"]
    assert cmds[-1] == '["adapter", "serve", "--host", "0.0.0.0"]'
    assert ("EXPOSE", "8000") in final_stage()


def test_healthcheck_probes_healthz_with_python() -> None:
    checks = [args for kw, args in final_stage() if kw == "HEALTHCHECK"]
    assert len(checks) == 1
    argv = json.loads(checks[0].split(" CMD ", 1)[1])
    assert argv[:2] == ["python", "-c"]
    assert "/healthz" in argv[2]
    compile(argv[2], "healthcheck", "exec")


def test_pip_installs_without_cache() -> None:
    runs = [args for kw, args in dockerfile_instructions() if kw == "RUN" and "pip " in args]
    assert runs
    assert all("--no-cache-dir" in run for run in runs)


def test_no_secret_is_baked_into_the_image() -> None:
    for keyword, args in dockerfile_instructions():
        if keyword in ("ENV", "ARG", "LABEL"):
            assert not SECRET_NAME.search(args), f"{keyword} {args}"
        if keyword in ("COPY", "ADD"):
            assert ".env" not in args.split()
            assert ".toml" not in args.replace("pyproject.toml", "")
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored
    assert ".env.*" in ignored


def test_env_example_names_only_known_settings() -> None:
    names = {field.upper() for field in Settings.model_fields} | {"ADAPTER_CONFIG"}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip().lstrip("# ")
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=.*", line)
        if match:
            assert match.group(1) in names | COMPOSE_ONLY, match.group(1)


def test_env_example_holds_no_real_secret() -> None:
    for line in (ROOT / ".env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if SECRET_NAME.search(name) and not line.startswith("#"):
            assert value in ("", "change-me"), line


def test_procfile_runs_web_and_worker() -> None:
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert lines == [
        "web: adapter serve --host 0.0.0.0 --port ${PORT:-8000}",
        "worker: adapter worker",
    ]
    assert {"serve", "worker"} <= set(SUBCOMMANDS)


def _docker_compose() -> str:
    found = shutil.which("docker-compose")
    # CI installs it; a missing binary must fail here, not skip
    assert found, "docker-compose is not installed (apt-get install docker-compose)"
    return found


@pytest.fixture
def compose_dir(tmp_path: Path) -> Path:
    """The compose file with `.env` made from `.env.example`, as an operator would."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    return tmp_path


def _compose(compose_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # only the .env file may feed compose's variable substitution
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_ONLY}
    return subprocess.run(
        [_docker_compose(), *args],
        cwd=compose_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid(compose_dir: Path) -> None:
    result = _compose(compose_dir, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_defines_redis_web_worker_and_dashboard(compose_dir: Path) -> None:
    result = _compose(compose_dir, "config", "--services")
    assert set(result.stdout.split()) == {"redis", "web", "worker", "rq-dashboard"}


def test_worker_can_be_scaled(compose_dir: Path) -> None:
    normalized = _compose(compose_dir, "config").stdout
    assert "container_name" not in normalized


@pytest.mark.slow
def test_redis_persists_with_aof_every_second_on_a_volume(compose_dir: Path) -> None:
    normalized = _compose(compose_dir, "config").stdout
    aof = r"- --appendonly\n\s+- \"?yes\"?\n\s+- --appendfsync\n\s+- everysec"
    assert re.search(aof, normalized)
    assert "redis-data:/data" in normalized
    assert _compose(compose_dir, "config", "--volumes").stdout.split() == ["redis-data"]


def test_compose_refuses_to_start_the_dashboard_without_a_password(compose_dir: Path) -> None:
    env = (compose_dir / ".env").read_text().replace("RQ_DASHBOARD_PASSWORD=change-me\n", "")
    (compose_dir / ".env").write_text(env)
    result = _compose(compose_dir, "config", "-q")
    assert result.returncode != 0
    assert "RQ_DASHBOARD_PASSWORD" in result.stderr
