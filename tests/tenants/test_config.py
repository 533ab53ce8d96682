"""The tenants section: what a valid one is, and one line naming what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.cli.config import ConfigError, describe, load_settings_checked
from adapter.settings import Settings
from adapter.tenants import DEFAULT_TENANT, Router

URL = "http://127.0.0.1:8100/functions/v1"


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # load_settings names its file in the environment: undone after each test
    monkeypatch.delenv("ADAPTER_CONFIG", raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "adapter.toml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings_checked(path)
    return caught.value.problems


def test_a_config_without_tenants_has_only_the_default_tenant(tmp_path: Path) -> None:
    settings = load_settings_checked(write(tmp_path, 'crm_api_key = "k"\n'))
    assert settings.tenants == {}
    assert Router(settings.tenants).names == [DEFAULT_TENANT]
    assert Router(settings.tenants).tenant_of("shopify", "any.myshopify.com") == DEFAULT_TENANT


def test_a_tenant_section_names_its_key_url_limits_and_stores(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[tenants.acme]
crm_base_url = "{URL}/"
crm_api_key = "cg_acme"
crm_rate_limit_per_minute = 60
shopify_shops = ["acme.myshopify.com"]
salla_merchants = ["1305146709"]
""",
    )
    tenant = load_settings_checked(path).tenants["acme"]
    assert tenant.crm_base_url == URL
    assert tenant.crm_api_key.get_secret_value() == "cg_acme"
    assert (tenant.crm_rate_limit_per_minute, tenant.crm_max_in_flight) == (60, None)
    assert tenant.salla_merchants == ["1305146709"]


def test_a_store_claimed_by_two_tenants_is_one_error_naming_both(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[tenants.one]
crm_base_url = "{URL}"
crm_api_key = "k1"
woocommerce_stores = ["riyadh-oud"]

[tenants.two]
crm_base_url = "{URL}"
crm_api_key = "k2"
woocommerce_stores = ["riyadh-oud"]
""",
    )
    [problem] = problems(path)
    assert "woocommerce_stores 'riyadh-oud' is claimed by tenants 'one' and 'two'" in problem
    assert problem.startswith("tenants")
    assert "\n" not in problem


def test_a_shopify_shop_is_the_same_store_whatever_its_case(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[tenants.one]
crm_base_url = "{URL}"
crm_api_key = "k1"
shopify_shops = ["Acme.myshopify.com"]

[tenants.two]
crm_base_url = "{URL}"
crm_api_key = "k2"
shopify_shops = ["acme.myshopify.com"]
""",
    )
    assert "claimed by tenants 'one' and 'two'" in problems(path)[0]


def test_a_tenant_without_a_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, f'[tenants.acme]\ncrm_base_url = "{URL}"\n')
    [problem] = problems(path)
    assert problem.startswith("tenants.acme.crm_api_key")
    assert "required" in problem


def test_a_tenant_without_a_url_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, '[tenants.acme]\ncrm_api_key = "cg_secret_value"\n')
    [problem] = problems(path)
    assert problem.startswith("tenants.acme.crm_base_url")
    assert "cg_secret_value" not in problem


def test_an_empty_key_is_refused_without_quoting_anything(tmp_path: Path) -> None:
    path = write(tmp_path, f'[tenants.acme]\ncrm_base_url = "{URL}"\ncrm_api_key = " "\n')
    [problem] = problems(path)
    assert problem.startswith("tenants.acme.crm_api_key")
    assert "is empty" in problem


def test_default_is_not_a_tenant_name(tmp_path: Path) -> None:
    path = write(tmp_path, f'[tenants.default]\ncrm_base_url = "{URL}"\ncrm_api_key = "k"\n')
    assert "'default' is the top-level CRM settings" in problems(path)[0]


def test_a_tenant_name_is_lowercase_letters_digits_and_dashes(tmp_path: Path) -> None:
    path = write(tmp_path, f'[tenants."Acme Co"]\ncrm_base_url = "{URL}"\ncrm_api_key = "k"\n')
    assert "'Acme Co': use lowercase letters" in problems(path)[0]


def test_tenants_are_settable_as_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    tenants = {"acme": {"crm_base_url": URL, "crm_api_key": "k", "forms": "contact, quote"}}
    monkeypatch.setenv("TENANTS", json.dumps(tenants))
    settings = Settings()
    assert settings.tenants["acme"].forms == ["contact", "quote"]


def test_config_check_masks_every_tenant_key(tmp_path: Path) -> None:
    path = write(tmp_path, f'[tenants.acme]\ncrm_base_url = "{URL}"\ncrm_api_key = "cg_hidden"\n')
    report = describe(load_settings_checked(path), path)
    assert "cg_hidden" not in json.dumps(report, default=str)
    assert report["settings"]["tenants"]["acme"]["crm_base_url"] == URL
