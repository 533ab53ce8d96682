"""`adapter config check`: validate the settings and print them with secrets masked.

`load_settings_or_exit()` is what every long-running entry point (serve, worker, dev)
calls first, so that a bad setting stops start-up with a message naming it (exit 78,
EXIT_CONFIG). What each role needs on top of valid settings is `adapter.cli.preflight`'s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from adapter.cli.failures import EXIT_CONFIG, EXIT_USAGE
from adapter.crm.normalize import normalize_stage
from adapter.logs import parse_level
from adapter.mapping.forms import field_target_errors
from adapter.redis_connection import (
    RedisUrlError,
    TlsFiles,
    check_url,
    masked,
    sync_client_for,
)
from adapter.redis_safety import Verdict, check
from adapter.settings import CONFIG_ENV, FormConfig, Settings, load_settings
from adapter.sources.forms import check_auth

HELP = "Check the configuration and print it with secrets masked."
# a command's own usage errors (a missing file, a missing --shop)
EXIT_INVALID = EXIT_USAGE
# Redis would lose acknowledged deliveries (an evicting maxmemory-policy)
EXIT_REDIS_UNSAFE = 3


class ConfigError(Exception):
    """The settings cannot be loaded; each problem names the setting it is about."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"TOML config file (default: ${CONFIG_ENV}); environment variables win over it",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    check = sub.add_parser("check", help=HELP, description=HELP)
    add_config_argument(check)
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    check.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="what the configuration must be enough for: serve, worker or both (all, default)",
    )


ROLES = ("all", "serve", "worker")


def run(args: argparse.Namespace) -> int:
    from adapter.cli.preflight import role_problems

    if args.action != "check":
        print("usage: adapter config check [--config FILE] [--json] [--role ROLE]", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = load_settings_checked(args.config)
        roles = ("serve", "worker") if args.role == "all" else (args.role,)
        missing = [problem for role in roles for problem in role_problems(settings, role)]
        if missing:
            raise ConfigError(missing)
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_CONFIG
    report = describe(settings, config_file(args.config))
    verdict = redis_verdict(settings)
    report["warnings"] += verdict.warnings
    if verdict.refusal is not None:
        print(f"adapter config check: {verdict.refusal}", file=sys.stderr)
        return EXIT_REDIS_UNSAFE
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_text(report))
        for warning in report["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def load_settings_or_exit(config: str | Path | None = None) -> Settings:
    """Settings, or a message naming each bad setting on stderr and exit status 78."""
    try:
        return load_settings_checked(config)
    except ConfigError as exc:
        _print_problems(exc)
        raise SystemExit(EXIT_CONFIG) from None


def load_settings_checked(config: str | Path | None = None) -> Settings:
    path = config_file(config)
    file_values = read_config_file(path) if path else {}
    try:
        settings = load_settings(path) if path else Settings()
    except ValidationError as exc:
        errors = [_describe_error(err, file_values, path) for err in exc.errors()]
        raise ConfigError(errors) from exc
    except SettingsError as exc:
        # pydantic-settings says which field and source: a variable that is not valid JSON
        raise ConfigError([str(exc)]) from exc
    problems: list[str] = []
    try:
        parse_level(settings.log_level)
    except ValueError as exc:
        problems.append(str(exc))
    try:
        check_url(settings.redis_url)
    except RedisUrlError as exc:
        problems.append(str(exc))
    problems += TlsFiles.from_settings(settings).problems(settings.redis_url)
    for form_id, form in settings.forms.items():
        problems += _form_problems(form_id, form, settings.mapping.stages)
    if problems:
        raise ConfigError(problems)
    return settings


def redis_verdict(settings: Settings) -> Verdict:
    """Whether the configured Redis keeps what it is given (see adapter.redis_safety)."""
    client = sync_client_for(settings, socket_connect_timeout=2.0, socket_timeout=5.0)
    try:
        return check(client, settings.redis_allow_no_aof)
    finally:
        client.close()


def refuse_unsafe_redis_or_exit(settings: Settings, command: str) -> None:
    """Start-up of `serve` and `worker`: warnings on stderr, and exit status 3, with one
    line saying what to set, when Redis would drop queued deliveries."""
    verdict = redis_verdict(settings)
    for warning in verdict.warnings:
        print(f"adapter {command}: warning: {warning}", file=sys.stderr)
    if verdict.refusal is not None:
        print(f"adapter {command}: refusing to start: {verdict.refusal}", file=sys.stderr)
        raise SystemExit(EXIT_REDIS_UNSAFE)


def _form_problems(form_id: str, form: FormConfig, stages: list[str]) -> list[str]:
    """What only shows once a delivery arrives: an unusable secret, target or stage."""
    problems: list[str] = []
    try:
        check_auth(form.auth)
    except ValueError as exc:
        problems.append(f"forms.{form_id}.auth.secrets: {exc}")
    problems += [f"forms.{form_id}.fields: {e}" for e in field_target_errors(form.fields)]
    if normalize_stage(form.stage) not in stages:
        problems.append(f"forms.{form_id}.stage: {form.stage!r} is not among {stages}")
    return problems


def config_file(config: str | Path | None) -> Path | None:
    """The config file in force: `--config`, else `$ADAPTER_CONFIG`, else none."""
    named = config if config is not None else os.environ.get(CONFIG_ENV)
    return Path(named) if named else None


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError([f"config file {path} does not exist (from --config or ${CONFIG_ENV})"])
    if not path.is_file():
        raise ConfigError([f"config file {path} is not a file"])
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"config file {path} is not valid TOML: {exc}"]) from exc


def _print_problems(exc: ConfigError) -> None:
    print("adapter: invalid configuration:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def _env_set(field: str) -> bool:
    return any(key.upper() == field.upper() for key in os.environ)


def _describe_error(err: Any, file_values: dict[str, Any], path: Path | None) -> str:
    loc = [str(part) for part in err["loc"]]
    head, rest = (loc[0], loc[1:]) if loc else ("", [])
    if err["type"] == "extra_forbidden":
        where = f" in {path}" if path else ""
        return f"{'.'.join(loc)}: unknown setting{where}"
    if head in Settings.model_fields and _env_set(head):
        name = ".".join([head.upper(), *rest])
    elif head in file_values and path is not None:
        name = f"{'.'.join(loc)} (in {path})"
    else:
        name = ".".join([head.upper(), *rest])
    # the offending input is left out on purpose: it may be a secret
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{name}: {message}"


def mask_secret(value: str) -> str:
    if not value:
        return ""
    # a long secret keeps its last two characters so rotations can be told apart
    return "***" + value[-2:] if len(value) >= 16 else "***"


def mask_url(url: str) -> str:
    return masked(url)


def _masked(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return mask_secret(value.get_secret_value())
    if isinstance(value, dict):
        return {str(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def effective_settings(settings: Settings) -> dict[str, Any]:
    """Every setting, JSON-ready, with secrets masked."""
    data: dict[str, Any] = _masked(settings.model_dump())
    data["redis_url"] = mask_url(settings.redis_url)
    return data


def warnings_for(settings: Settings) -> list[str]:
    found: list[str] = []
    if not settings.shopify_webhook_secrets and not settings.shopify_shop_secrets:
        found.append(
            "no Shopify secret configured (SHOPIFY_WEBHOOK_SECRETS or shopify_shop_secrets): "
            "Shopify deliveries cannot be verified"
        )
    if not settings.stripe_webhook_secrets:
        found.append("STRIPE_WEBHOOK_SECRETS is empty: Stripe deliveries cannot be verified")
    for i, secret in enumerate(settings.stripe_webhook_secrets):
        if not secret.get_secret_value().startswith("whsec_"):
            found.append(f"STRIPE_WEBHOOK_SECRETS[{i}] does not start with whsec_")
    for form_id, form in settings.forms.items():
        if form.auth.kind == "standard_webhooks":
            for i, secret in enumerate(form.auth.secrets):
                if not secret.get_secret_value().startswith("whsec_"):
                    found.append(
                        f"forms.{form_id}.auth.secrets[{i}] is not a whsec_ secret, "
                        "as standard webhooks expects"
                    )
    if not settings.crm_api_key.get_secret_value():
        found.append("CRM_API_KEY is empty: the CRM will refuse every request")
    return found


def describe(settings: Settings, path: Path | None) -> dict[str, Any]:
    file_values = read_config_file(path) if path else {}
    sources: dict[str, str] = {}
    for field in Settings.model_fields:
        if _env_set(field):
            sources[field] = f"env {field.upper()}"
        elif field in file_values:
            sources[field] = "file"
        else:
            sources[field] = "default"
    return {
        "config_file": str(path) if path else None,
        "settings": effective_settings(settings),
        "sources": sources,
        "warnings": warnings_for(settings),
    }


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + (f" {inner} " if inner else "") + "}"
    return json.dumps(str(value), ensure_ascii=False)


def _toml_table(
    path: list[str], table: dict[str, Any], lines: list[str], comment: str = ""
) -> None:
    header = "[" + ".".join(_toml_key(p) for p in path) + "]"
    lines += ["", f"{header}  # {comment}" if comment else header]
    nested = {k: v for k, v in table.items() if isinstance(v, dict) and v}
    for key, value in table.items():
        if key in nested:
            continue
        if value is None:
            lines.append(f"# {_toml_key(key)} is not set")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in nested.items():
        _toml_table([*path, key], value, lines)


def render_text(report: dict[str, Any]) -> str:
    """The effective configuration as a TOML document, each top-level key's source noted."""
    lines = [f"# config file: {report['config_file'] or '(none)'}"]
    tables: dict[str, dict[str, Any]] = {}
    for key, value in report["settings"].items():
        source = report["sources"][key]
        if isinstance(value, dict) and value:
            tables[key] = value
        elif value is None:
            lines.append(f"# {key} is not set  ({source})")
        else:
            lines.append(f"{key} = {_toml_value(value)}  # {source}")
    for key, value in tables.items():
        _toml_table([key], value, lines, comment=report["sources"][key])
    return "\n".join(lines)
