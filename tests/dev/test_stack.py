"""DevStack in this process: what it starts depends on REDIS_URL and CRM_BASE_URL."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from adapter.dev.banner import render
from adapter.dev.config import configured
from adapter.dev.errors import DevError
from adapter.dev.stack import DevOptions, DevStack
from adapter.settings import Settings
from tests.support.processes import free_port, port_open

pytestmark = pytest.mark.slow


@pytest.fixture
def options() -> DevOptions:
    return DevOptions(port=free_port(), sandbox_port=free_port())


@pytest.fixture
def external(redis_url: str, options: DevOptions) -> Iterator[DevStack]:
    base = Settings(
        redis_url=redis_url,
        crm_base_url="http://127.0.0.1:9/functions/v1",
        crm_api_key="cg_live_not_to_be_printed",
    )
    stack = DevStack(base, options).start()
    yield stack
    stack.stop()


def test_crm_base_url_is_used_and_no_sandbox_starts(
    external: DevStack, options: DevOptions
) -> None:
    assert external.crm is not None
    assert external.crm.base_url == "http://127.0.0.1:9/functions/v1"
    assert not external.crm.embedded
    assert not port_open(options.sandbox_port)


def test_redis_url_is_used(external: DevStack, redis_url: str) -> None:
    assert external.redis is not None
    assert external.redis.url == redis_url


def test_the_banner_does_not_print_a_real_crm_key(external: DevStack) -> None:
    text = render(external)

    assert "cg_live_not_to_be_printed" not in text
    assert "X-API-Key: $CRM_API_KEY" in text


def test_dev_secrets_replace_configured_ones(external: DevStack) -> None:
    assert external.settings is not None
    secrets = [s.get_secret_value() for s in external.settings.shopify_webhook_secrets]
    assert secrets == ["dev-only-shopify-secret"]
    assert "contact" in external.settings.forms


def test_a_taken_port_fails_and_stops_what_had_started(redis_url: str, options: DevOptions) -> None:
    base = Settings(redis_url=redis_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", options.port))
        taken.listen()
        stack = DevStack(base, options)

        with pytest.raises(DevError, match="web app could not start"):
            stack.start()

    assert not port_open(options.sandbox_port)


def test_empty_variables_leave_redis_and_the_crm_to_dev_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # what `.env` files and compose's ${X:-} produce
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("CRM_BASE_URL", "")

    base = Settings()

    assert not configured(base, "redis_url")
    assert not configured(base, "crm_base_url")
