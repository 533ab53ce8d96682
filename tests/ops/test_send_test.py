from __future__ import annotations

import json
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter.cli import main
from tests.support.processes import Process, adapter_command, free_port

SHOPIFY_SECRET = "shpss_0123456789abcdef0123456789abcdef"
STRIPE_SECRET = "whsec_stripeTestSecret0123456789"
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HMAC_SECRET = "form-hmac-secret-0123456789"
FORM_TOKEN = "form-token-0123456789"
TOKEN_HEADER = "X-Webhook-Token"

CONFIG = f"""
[forms.sw]
name = "Standard webhooks form"
[forms.sw.auth]
kind = "standard_webhooks"
secrets = ["{SW_SECRET}"]

[forms.signed]
[forms.signed.auth]
kind = "hmac"
secrets = ["{HMAC_SECRET}", "older-hmac-secret"]

[forms.tokened]
[forms.tokened.auth]
kind = "token"
header = "{TOKEN_HEADER}"
secrets = ["{FORM_TOKEN}"]
"""


class Verifier:
    def __init__(self, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log = log

    def received(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def last(self) -> dict[str, Any]:
        return self.received()[-1]


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verifier]:
    workdir = tmp_path_factory.mktemp("verifier")
    port = free_port()
    env = {
        "VERIFIER_LOG": str(workdir / "received.jsonl"),
        "SHOPIFY_SECRET": SHOPIFY_SECRET,
        "STRIPE_SECRET": STRIPE_SECRET,
        "SW_SECRET": SW_SECRET,
        "HMAC_SECRET": HMAC_SECRET,
        "FORM_TOKEN": FORM_TOKEN,
        "TOKEN_HEADER": TOKEN_HEADER,
    }
    argv = [sys.executable, "-m", "uvicorn", "tests.ops.verifier_app:app", "--port", str(port)]
    argv += ["--host", "127.0.0.1", "--log-level", "warning"]
    proc = Process(argv, port, env=env, log_path=workdir / "uvicorn.log", cwd=Path.cwd())
    proc.start()
    yield Verifier(port, workdir / "received.jsonl")
    proc.stop()


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    config = tmp_path / "adapter.toml"
    config.write_text(CONFIG)
    monkeypatch.setenv("ADAPTER_CONFIG", str(config))
    monkeypatch.setenv("SHOPIFY_WEBHOOK_SECRETS", SHOPIFY_SECRET)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET)
    return config


def send(*args: str) -> int:
    return main(["send-test", *args])


def test_shopify_sample_arrives_signed_with_every_shopify_header(
    verifier: Verifier, configured: Path
) -> None:
    assert send("--source", "shopify", "--url", verifier.url) == 0
    got = verifier.last()
    assert got["verified"] is True
    assert got["path"] == "/webhooks/shopify"
    headers = got["headers"]
    assert headers["x-shopify-topic"] == "orders/create"
    assert headers["x-shopify-shop-domain"].endswith(".myshopify.com")
    assert headers["x-shopify-api-version"] == "2026-07"
    uuid.UUID(headers["x-shopify-webhook-id"])
    uuid.UUID(headers["x-shopify-event-id"])
    datetime.fromisoformat(headers["x-shopify-triggered-at"])
    order = json.loads(got["body"])
    assert order["currency"] == "SAR"
    assert order["payment_gateway_names"] == ["mada"]


def test_shopify_sends_a_fresh_webhook_id_each_time(verifier: Verifier, configured: Path) -> None:
    send("--source", "shopify", "--url", verifier.url)
    send("--source", "shopify", "--url", verifier.url)
    first, second = verifier.received()[-2:]
    assert first["headers"]["x-shopify-webhook-id"] != second["headers"]["x-shopify-webhook-id"]


def test_shopify_topic_and_shop_are_sent_as_given(verifier: Verifier, configured: Path) -> None:
    code = send(
        "--source",
        "shopify",
        "--topic",
        "customers/create",
        "--shop",
        "cairo-store.myshopify.com",
        "--url",
        verifier.url,
    )
    assert code == 0
    got = verifier.last()
    assert got["headers"]["x-shopify-topic"] == "customers/create"
    assert got["headers"]["x-shopify-shop-domain"] == "cairo-store.myshopify.com"
    assert json.loads(got["body"])["phone"].startswith("+20")


def test_shopify_uses_a_shop_secret_when_no_global_secret(
    verifier: Verifier, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPIFY_WEBHOOK_SECRETS")
    shop_secrets = json.dumps({"riyadh-oud.myshopify.com": [SHOPIFY_SECRET]})
    monkeypatch.setenv("SHOPIFY_SHOP_SECRETS", shop_secrets)
    assert send("--source", "shopify", "--url", verifier.url) == 0
    assert verifier.last()["headers"]["x-shopify-shop-domain"] == "riyadh-oud.myshopify.com"


def test_stripe_event_passes_stripe_construct_event(verifier: Verifier, configured: Path) -> None:
    assert send("--source", "stripe", "--url", verifier.url) == 0
    got = verifier.last()
    assert got["verified"] is True
    event = json.loads(got["body"])
    assert event["type"] == "checkout.session.completed"
    assert event["data"]["object"]["currency"] == "sar"


def test_stripe_sends_a_fresh_event_id_each_time(verifier: Verifier, configured: Path) -> None:
    send("--source", "stripe", "--url", verifier.url)
    send("--source", "stripe", "--url", verifier.url)
    first, second = (json.loads(r["body"])["id"] for r in verifier.received()[-2:])
    assert first.startswith("evt_")
    assert first != second


def test_stripe_file_payload_is_sent_with_the_given_event_type(
    verifier: Verifier, configured: Path, fixtures_dir: Path
) -> None:
    fixture = fixtures_dir / "stripe" / "charge.refunded.json"
    code = send(
        "--source",
        "stripe",
        "--file",
        str(fixture),
        "--topic",
        "charge.refunded",
        "--url",
        verifier.url,
    )
    assert code == 0
    got = verifier.last()
    assert got["verified"] is True
    assert json.loads(got["body"])["type"] == "charge.refunded"


def test_default_url_uses_port_from_environment(
    verifier: Verifier, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", str(verifier.port))
    assert send("--source", "stripe") == 0
    assert verifier.last()["path"] == "/webhooks/stripe"


def test_standard_webhooks_form_passes_the_standardwebhooks_verifier(
    verifier: Verifier, configured: Path
) -> None:
    assert send("--source", "form", "--form-id", "sw", "--url", verifier.url) == 0
    got = verifier.last()
    assert got["path"] == "/webhooks/forms/sw"
    assert got["verified"] is True
    assert json.loads(got["body"])["email"] == "omar.farouk@example.com"


def test_hmac_form_sends_x_signature_of_the_body(verifier: Verifier, configured: Path) -> None:
    assert send("--source", "form", "--form-id", "signed", "--url", verifier.url) == 0
    got = verifier.last()
    assert got["verified"] is True
    assert got["headers"]["x-signature"].startswith("sha256=")


def test_token_form_sends_the_token_in_the_configured_header(
    verifier: Verifier, configured: Path
) -> None:
    assert send("--source", "form", "--form-id", "tokened", "--url", verifier.url) == 0
    got = verifier.last()
    assert got["verified"] is True
    assert got["headers"][TOKEN_HEADER.lower()] == FORM_TOKEN


def test_form_defaults_to_the_first_configured_form(verifier: Verifier, configured: Path) -> None:
    assert send("--source", "form", "--url", verifier.url) == 0
    assert verifier.last()["path"] == "/webhooks/forms/sw"


def test_wrong_secret_is_refused_and_exits_1(
    verifier: Verifier, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = send("--source", "stripe", "--secret", "whsec_wrong", "--url", verifier.url)
    assert code == 1
    assert verifier.last()["verified"] is False
    assert "HTTP 401" in capsys.readouterr().out


def test_print_curl_sends_nothing_and_replays_verified(
    verifier: Verifier, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(verifier.received())
    assert send("--source", "shopify", "--url", verifier.url, "--print-curl") == 0
    command = capsys.readouterr().out
    assert len(verifier.received()) == before
    argv = shlex.split(command)
    assert argv[:4] == ["curl", "-sS", "-X", "POST"]
    headers = dict(argv[i + 1].split(": ", 1) for i in range(len(argv)) if argv[i] == "-H")
    body = argv[argv.index("--data-binary") + 1].encode()
    httpx.post(argv[4], headers=headers, content=body)
    assert verifier.last()["verified"] is True


def test_missing_secret_exits_2_naming_the_setting(
    configured: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRETS")
    assert send("--source", "stripe", "--print-curl") == 2
    assert "STRIPE_WEBHOOK_SECRETS" in capsys.readouterr().err


def test_unknown_form_exits_2_listing_configured_forms(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert send("--source", "form", "--form-id", "nope", "--print-curl") == 2
    assert "sw, signed, tokened" in capsys.readouterr().err


def test_unknown_topic_without_file_exits_2(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert send("--source", "shopify", "--topic", "products/update", "--print-curl") == 2
    assert "orders/create" in capsys.readouterr().err


def test_unreachable_url_exits_1(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert send("--source", "stripe", "--url", f"http://127.0.0.1:{free_port()}") == 1
    assert "failed" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_sends_a_verified_delivery(verifier: Verifier, configured: Path) -> None:
    result = subprocess.run(
        adapter_command("send-test", "--source", "stripe", "--url", verifier.url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "HTTP 202" in result.stdout
