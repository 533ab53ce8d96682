"""What can be checked of the deployment files without a Docker engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

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


def test_env_example_holds_no_secret_not_even_a_default_password() -> None:
    for line in (ROOT / ".env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if SECRET_NAME.search(name) and not line.startswith("#"):
            assert value == "", line


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = (line.partition("=") for line in lines if line and not line.startswith("#"))
    return {name: value for name, _, value in pairs}


def test_env_example_keeps_the_crm_on_this_machine() -> None:
    # `honcho start` right after copying it must send nothing off the machine
    url = urlsplit(env_example()["CRM_BASE_URL"])
    assert url.hostname in ("127.0.0.1", "localhost", "::1")


def test_env_files_are_ignored_by_git_but_the_example_is_not() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert "!.env.example" in ignored


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


DASHBOARD_PASSWORD = "a-long-random-dashboard-password"


@pytest.fixture
def compose_dir(tmp_path: Path) -> Path:
    """The compose file with `.env` made from `.env.example` as the docs say: the
    dashboard password filled in."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    example = (ROOT / ".env.example").read_text()
    filled = example.replace(
        "\nRQ_DASHBOARD_PASSWORD=\n", f"\nRQ_DASHBOARD_PASSWORD={DASHBOARD_PASSWORD}\n"
    )
    assert filled != example
    (tmp_path / ".env").write_text(filled)
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


def test_compose_config_is_clean_with_the_documented_env(compose_dir: Path) -> None:
    result = _compose(compose_dir, "config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def _service(normalized: str, name: str) -> str:
    """One service's block of `docker-compose config` output."""
    body = ("\n" + normalized).split("\nservices:\n", 1)[1]
    # the services end at the next unindented key (version, volumes)
    body = re.split(r"\n(?=\S)", body, maxsplit=1)[0]
    blocks = re.split(r"\n(?=  [a-z][\w-]*:\n)", "\n" + body)
    found = {block.strip().split(":", 1)[0]: block for block in blocks if block.strip()}
    return found[name]


def test_the_dashboard_password_reaches_only_the_dashboard(compose_dir: Path) -> None:
    normalized = _compose(compose_dir, "config").stdout
    assert DASHBOARD_PASSWORD in _service(normalized, "rq-dashboard")
    for name in ("web", "worker", "redis"):
        assert DASHBOARD_PASSWORD not in _service(normalized, name)
        assert "RQ_DASHBOARD" not in _service(normalized, name)


def test_web_and_worker_get_every_setting_from_env(compose_dir: Path) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    # the state file of `adapter dev` has no place in a deployment
    for field in set(Settings.model_fields) - {"redis_url", "dev_state_file"}:
        assert f"{field.upper()}: ${{{field.upper()}:-" in text, field
    normalized = _compose(compose_dir, "config").stdout
    assert "REDIS_URL: redis://redis:6379/0" in _service(normalized, "worker")
    assert "CRM_BASE_URL: http://127.0.0.1:8100/functions/v1" in _service(normalized, "worker")


def test_the_dashboard_reads_json_jobs_from_a_pinned_build(compose_dir: Path) -> None:
    dashboard = _service(_compose(compose_dir, "config").stdout, "rq-dashboard")
    assert "RQ_DASHBOARD_JSON: 'true'" in dashboard or 'RQ_DASHBOARD_JSON: "true"' in dashboard
    assert "image: crm-adapter-rq-dashboard:" in dashboard
    assert ":latest" not in dashboard


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


def test_compose_refuses_to_start_with_the_example_unchanged(compose_dir: Path) -> None:
    shutil.copy(ROOT / ".env.example", compose_dir / ".env")
    result = _compose(compose_dir, "config", "-q")
    assert result.returncode != 0
    assert "RQ_DASHBOARD_PASSWORD" in result.stderr


def _compose_command(service: str) -> str:
    text = (ROOT / "docker-compose.yml").read_text()
    block = text.split(f"\n  {service}:\n", 1)[1]
    argv = re.search(r"command: (\[.*\])", block)
    assert argv
    return " ".join(json.loads(argv.group(1)))


def test_the_readme_gives_the_procfile_and_compose_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    for line in (ROOT / "Procfile").read_text().splitlines():
        assert f"`{line}`" in readme, line
    for service in ("web", "worker"):
        assert f"`{_compose_command(service)}`" in readme.replace("\n", " "), service


def test_the_readme_opens_with_the_two_commands() -> None:
    first = (ROOT / "README.md").read_text().split("```", 2)[1]
    assert "pip install -e . && adapter dev" in first
    assert "scripts/test" in first
