from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.cli.config import load_settings_or_exit
from adapter.cli.failures import EXIT_CONFIG
from tests.support.processes import adapter_command

SHOPIFY_SECRET = "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"
STRIPE_SECRET = "whsec_S3cr3tValueThatMustNotLeak"
CRM_KEY = "cg_live_key_abcdef123456"
FORM_SECRET = "form-hmac-secret-0123456789"

GOOD = f"""
crm_rate_limit_per_minute = 60
log_format = "json"

[forms.contact]
name = "Contact us"
honeypot_field = "website"
fields = {{ full_name = "first_name", "e-mail" = "email" }}
[forms.contact.auth]
kind = "hmac"
secrets = ["{FORM_SECRET}"]

[mapping]
default_phone_region = "SA"
"""


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["config", "check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "adapter.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    # config check also reads the Redis's eviction policy and persistence
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SHOPIFY_WEBHOOK_SECRETS", SHOPIFY_SECRET)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET)
    monkeypatch.setenv("CRM_API_KEY", CRM_KEY)


@pytest.mark.usefixtures("secrets_in_env")
def test_valid_config_prints_toml_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = check(capsys, "--config", str(write(tmp_path, GOOD)))
    assert code == 0
    assert err == ""
    for secret in (SHOPIFY_SECRET, STRIPE_SECRET, CRM_KEY, FORM_SECRET):
        assert secret not in out
    printed = tomllib.loads(out)
    assert printed["crm_rate_limit_per_minute"] == 60
    assert printed["forms"]["contact"]["auth"]["secrets"] == ["***89"]
    assert printed["forms"]["contact"]["fields"]["e-mail"] == "email"
    assert printed["mapping"]["default_phone_region"] == "SA"
    assert printed["crm_api_key"] == "***56"


@pytest.mark.usefixtures("secrets_in_env")
def test_json_output_names_where_each_setting_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADAPTER_CONFIG", str(write(tmp_path, GOOD)))
    code, out, _ = check(capsys, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["sources"]["crm_api_key"] == "env CRM_API_KEY"
    assert report["sources"]["forms"] == "file"
    assert report["sources"]["log_level"] == "default"
    assert report["settings"]["stripe_webhook_secrets"] == ["***ak"]
    assert report["warnings"] == []
    assert STRIPE_SECRET not in out


@pytest.mark.usefixtures("secrets_in_env")
def test_redis_password_is_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # loopback: config check tries to reach it
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2-pass@127.0.0.1:1/1")
    code, out, _ = check(capsys, "--json")
    assert code == 0
    assert json.loads(out)["settings"]["redis_url"] == "redis://:***@127.0.0.1:1/1"


def test_nothing_configured_exits_78_naming_what_serve_and_worker_need(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = check(capsys)
    assert code == EXIT_CONFIG
    assert out == ""
    assert "no webhook source is configured: set SHOPIFY_WEBHOOK_SECRETS" in err
    assert "CRM_API_KEY is not set" in err
    assert "Traceback" not in err


def test_the_serve_role_passes_with_one_source_and_warns_about_the_rest(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPIFY_WEBHOOK_SECRETS", SHOPIFY_SECRET)
    code, _, err = check(capsys, "--role", "serve")
    assert code == 0
    assert "STRIPE_WEBHOOK_SECRETS is empty" in err
    assert "CRM_API_KEY is empty" in err


def test_the_worker_role_needs_only_the_crm_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_API_KEY", CRM_KEY)
    assert check(capsys, "--role", "worker")[0] == 0


def test_an_empty_variable_counts_as_unset(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPIFY_WEBHOOK_SECRETS", SHOPIFY_SECRET)
    monkeypatch.setenv("CRM_BASE_URL", "")
    monkeypatch.setenv("CRM_API_KEY", "  ")
    code, _, err = check(capsys, "--json")
    assert code == EXIT_CONFIG
    assert "CRM_API_KEY is not set" in err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("REDIS_URL", "localhost:6379", "REDIS_URL: has no scheme: write it as redis://"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL: must look like redis://host:6379/0,"),
        ("CRM_BASE_URL", "not-a-url", "CRM_BASE_URL: must be an http(s) URL"),
    ],
)
@pytest.mark.usefixtures("secrets_in_env")
def test_a_url_of_the_wrong_shape_exits_78_naming_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, _, err = check(capsys)
    assert code == EXIT_CONFIG
    assert message in err
    assert "Traceback" not in err


def test_stripe_secret_without_whsec_prefix_warns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", "sk_live_pasted_the_wrong_key")
    monkeypatch.setenv("CRM_API_KEY", CRM_KEY)
    code, _, err = check(capsys)
    assert code == 0
    assert "STRIPE_WEBHOOK_SECRETS[0] does not start with whsec_" in err
    assert "sk_live_pasted_the_wrong_key" not in err


def test_out_of_range_env_setting_exits_78_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_RATE_LIMIT_PER_MINUTE", "0")
    code, _, err = check(capsys)
    assert code == EXIT_CONFIG
    assert "CRM_RATE_LIMIT_PER_MINUTE: Input should be greater than or equal to 1" in err


def test_out_of_range_file_setting_exits_78_naming_key_and_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "batch_linger_seconds = 5\n")
    code, _, err = check(capsys, "--config", str(path))
    assert code == EXIT_CONFIG
    assert f"batch_linger_seconds (in {path}): Input should be less than or equal to 2" in err


def test_unknown_key_in_file_exits_78_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = check(capsys, "--config", str(write(tmp_path, "crm_rate_limit = 60\n")))
    assert code == EXIT_CONFIG
    assert "crm_rate_limit: unknown setting" in err


def test_unknown_key_inside_a_form_exits_78_naming_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace('name = "Contact us"', 'name = "Contact us"\ncolour = "red"')
    code, _, err = check(capsys, "--config", str(write(tmp_path, text)))
    assert code == EXIT_CONFIG
    assert "forms.contact.colour: unknown setting" in err


def test_form_without_secrets_exits_78_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '[forms.contact.auth]\nkind = "token"\nsecrets = []\n'
    code, _, err = check(capsys, "--config", str(write(tmp_path, text)))
    assert code == EXIT_CONFIG
    assert "forms.contact.auth.secrets" in err
    assert "at least 1 item" in err


def test_file_that_is_not_toml_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(capsys, "--config", str(write(tmp_path, '{"redis_url": "x"}')))
    assert code == EXIT_CONFIG
    assert "is not valid TOML" in err


def test_missing_file_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(capsys, "--config", str(tmp_path / "absent.toml"))
    assert code == EXIT_CONFIG
    assert "absent.toml does not exist" in err


def test_missing_file_named_by_adapter_config_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADAPTER_CONFIG", str(tmp_path / "absent.toml"))
    code, _, err = check(capsys)
    assert code == EXIT_CONFIG
    assert "ADAPTER_CONFIG" in err


def test_env_variable_that_is_not_json_exits_78_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORMS", "contact")
    code, _, err = check(capsys)
    assert code == EXIT_CONFIG
    assert '"forms"' in err


def test_unknown_log_level_exits_78(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    code, _, err = check(capsys)
    assert code == EXIT_CONFIG
    assert "LOG_LEVEL" in err


def test_secret_value_never_appears_in_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f'[forms.contact.auth]\nkind = "signed"\nsecrets = ["{FORM_SECRET}"]\n'
    code, out, err = check(capsys, "--config", str(write(tmp_path, text)))
    assert code == EXIT_CONFIG
    assert "forms.contact.auth.kind" in err
    assert FORM_SECRET not in out + err


def test_load_settings_or_exit_stops_with_status_78(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_MAX_IN_FLIGHT", "0")
    with pytest.raises(SystemExit) as stopped:
        load_settings_or_exit()
    assert stopped.value.code == EXIT_CONFIG
    assert "CRM_MAX_IN_FLIGHT" in capsys.readouterr().err


def test_load_settings_or_exit_returns_settings(tmp_path: Path) -> None:
    settings = load_settings_or_exit(write(tmp_path, GOOD))
    assert settings.forms["contact"].honeypot_field == "website"


def test_console_script_exits_78_on_a_bad_setting() -> None:
    result = subprocess.run(
        adapter_command("config", "check"),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "CRM_TIMEOUT_SECONDS": "-1"},
    )
    assert result.returncode == EXIT_CONFIG
    assert "CRM_TIMEOUT_SECONDS" in result.stderr


def test_standard_webhooks_form_with_an_unusable_secret_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '[forms.contact.auth]\nkind = "standard_webhooks"\nsecrets = ["whsec_"]\n'
    code, _, err = check(capsys, "--config", str(write(tmp_path, text)))
    assert code == EXIT_CONFIG
    assert "forms.contact.auth.secrets" in err


def test_form_field_with_an_unknown_target_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace('"e-mail" = "email"', '"e-mail" = "mail_address"')
    code, _, err = check(capsys, "--config", str(write(tmp_path, text)))
    assert code == EXIT_CONFIG
    assert "forms.contact.fields: field 'e-mail': unknown target 'mail_address'" in err


def test_form_stage_outside_the_pipeline_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace('honeypot_field = "website"', 'honeypot_field = "website"\nstage = "hot"')
    code, _, err = check(capsys, "--config", str(write(tmp_path, text)))
    assert code == EXIT_CONFIG
    assert "forms.contact.stage: 'hot' is not among" in err


@pytest.mark.usefixtures("secrets_in_env")
def test_text_output_holds_the_same_values_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write(tmp_path, GOOD))
    _, text_out, _ = check(capsys, "--config", path)
    _, json_out, _ = check(capsys, "--config", path, "--json")

    def without_unset(value: object) -> object:
        if isinstance(value, dict):
            return {k: without_unset(v) for k, v in value.items() if v is not None}
        return value

    assert tomllib.loads(text_out) == without_unset(json.loads(json_out)["settings"])
