from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from adapter.logs import (
    RequestIdMiddleware,
    bind_request_id,
    configure_logging,
    current_request_id,
    parse_level,
)
from adapter.settings import Settings

EMAIL = "mahmoud@example.com"
PHONE = "+201017177777"
STRIPE_SECRET = "whsec_S3cr3tValueThatMustNotLeak"
SHOPIFY_SECRET = "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"
CRM_KEY = "cg_live_key_abcdef123456"

pytestmark = pytest.mark.usefixtures("restore_root_logger")


def _settings(log_format: str = "text") -> Settings:
    return Settings(
        log_format=log_format,
        stripe_webhook_secrets=[SecretStr(STRIPE_SECRET)],
        crm_api_key=SecretStr(CRM_KEY),
    )


def _capture(log_format: str) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(_settings(log_format), stream=stream)
    return stream


def _assert_clean(output: str) -> None:
    for leaked in (EMAIL, PHONE, "1017177777", STRIPE_SECRET, SHOPIFY_SECRET, CRM_KEY):
        assert leaked not in output


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_personal_data_and_secrets_in_message_are_masked(log_format: str) -> None:
    stream = _capture(log_format)
    logging.getLogger("adapter.test").warning(
        f"contact {EMAIL} phone {PHONE} secret {STRIPE_SECRET} shop {SHOPIFY_SECRET} key {CRM_KEY}"
    )
    output = stream.getvalue()
    _assert_clean(output)
    assert "m***@e***.com" in output
    assert "+20******77" in output


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_personal_data_and_secrets_in_args_are_masked(log_format: str) -> None:
    stream = _capture(log_format)
    logging.getLogger("adapter.test").info(
        "contact %s phone %s secret %s %s", EMAIL, PHONE, STRIPE_SECRET, SHOPIFY_SECRET
    )
    _assert_clean(stream.getvalue())


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_personal_data_and_secrets_in_exception_text_are_masked(log_format: str) -> None:
    stream = _capture(log_format)
    try:
        raise ValueError(f"bad row {EMAIL} {PHONE} signed with {SHOPIFY_SECRET} {STRIPE_SECRET}")
    except ValueError:
        logging.getLogger("adapter.test").exception("delivery failed")
    output = stream.getvalue()
    _assert_clean(output)
    assert "ValueError: bad row m***@e***.com" in output


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_extra_fields_are_masked(log_format: str) -> None:
    stream = _capture(log_format)
    logging.getLogger("adapter.test").info("lead", extra={"contact": EMAIL, "phone": PHONE})
    _assert_clean(stream.getvalue())


def test_json_format_writes_one_object_a_line() -> None:
    stream = _capture("json")
    log = logging.getLogger("adapter.test")
    log.info("first")
    log.info("second", extra={"delivery_id": "d-1"})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "first"
    assert first["level"] == "INFO"
    assert first["logger"] == "adapter.test"
    assert second["delivery_id"] == "d-1"


def test_text_format_is_plain_by_default() -> None:
    stream = _capture("text")
    logging.getLogger("adapter.test").info("hello")
    line = stream.getvalue().strip()
    assert line.endswith("INFO adapter.test hello")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_bound_request_id_is_in_every_record(log_format: str) -> None:
    stream = _capture(log_format)
    with bind_request_id("req-42"):
        logging.getLogger("adapter.test").info("inside")
    logging.getLogger("adapter.test").info("outside")
    inside, outside = stream.getvalue().splitlines()
    assert "req-42" in inside
    assert "req-42" not in outside


def test_bind_request_id_generates_one_when_none_is_given() -> None:
    with bind_request_id() as rid:
        assert current_request_id() == rid
        assert len(rid) == 32
    assert current_request_id() is None


def test_configure_logging_twice_keeps_one_handler() -> None:
    stream = io.StringIO()
    configure_logging(_settings(), stream=stream)
    configure_logging(_settings(), stream=stream)
    logging.getLogger("adapter.test").info("once")
    assert stream.getvalue().count("once") == 1


def test_configured_form_secret_and_redis_password_are_masked() -> None:
    settings = Settings(
        redis_url="redis://:hunter2-redis-pass@127.0.0.1:6379/0",
        forms={"contact": {"auth": {"kind": "token", "secrets": ["plain-form-token-9"]}}},
    )
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    logging.getLogger("adapter.test").info("token plain-form-token-9 pass hunter2-redis-pass")
    output = stream.getvalue()
    assert "plain-form-token-9" not in output
    assert "hunter2-redis-pass" not in output


def test_unknown_log_level_names_the_setting() -> None:
    with pytest.raises(ValueError, match="LOG_LEVEL"):
        parse_level("LOUD")


def _app() -> Starlette:
    async def endpoint(request: Request) -> PlainTextResponse:
        logging.getLogger("adapter.test").info("handling")
        return PlainTextResponse(current_request_id() or "")

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(RequestIdMiddleware)
    return app


def _get(headers: dict[str, str] | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://adapter") as client:
            return await client.get("/", headers=headers)

    return asyncio.run(call())


def test_middleware_echoes_the_callers_request_id() -> None:
    stream = _capture("json")
    response = _get({"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    assert response.text == "abc-123"
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any(r["message"] == "handling" and r["request_id"] == "abc-123" for r in records)


def test_middleware_generates_a_request_id_when_missing() -> None:
    response = _get()
    assert len(response.headers["X-Request-Id"]) == 32
    assert response.text == response.headers["X-Request-Id"]


def test_middleware_replaces_an_unsafe_request_id() -> None:
    response = _get({"X-Request-Id": "evil\tid with spaces"})
    assert response.headers["X-Request-Id"] != "evil\tid with spaces"
    assert len(response.headers["X-Request-Id"]) == 32
