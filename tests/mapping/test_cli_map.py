from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from tests.support.processes import adapter_command
from tests.support.shared import FIXTURES

ORDER = FIXTURES / "shopify/orders_updated.json"
SESSION = FIXTURES / "stripe/checkout.session.completed.json"
INVOICE = FIXTURES / "stripe/invoice.paid.json"


@pytest.fixture(autouse=True)
def no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # set (not deleted) so that whatever `--config` writes into the environment is undone
    monkeypatch.setenv("ADAPTER_CONFIG", "")


def run_map(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stdin: bytes,
    *args: str,
) -> tuple[int, Any, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(["map", *args])
    captured = capsys.readouterr()
    output = json.loads(captured.out) if captured.out.strip() else None
    return code, output, captured.err


def test_prints_the_commands_of_a_shopify_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, commands, _ = run_map(
        monkeypatch,
        capsys,
        ORDER.read_bytes(),
        "--source=shopify",
        "--topic=orders/paid",
        "--shop=demo.myshopify.com",
    )
    assert code == 0
    command, *completions = commands
    assert [c["kind"] for c in completions] == ["complete_contact"]
    assert command["kind"] == "upsert_deal"
    assert command["external_id"] == "shopify:demo.myshopify.com:order:7310002"
    assert command["deal"]["title"] == "Order #2041"
    assert command["deal"]["value"] == 860


def test_stripe_topic_defaults_to_the_event_type(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, commands, _ = run_map(monkeypatch, capsys, SESSION.read_bytes(), "--source=stripe")
    assert code == 0
    assert commands[0]["external_id"] == "stripe:pi:pi_3Qintent000000001"


def test_mapping_error_exits_1_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json.loads(INVOICE.read_bytes())
    del event["data"]["object"]["id"]
    code, output, err = run_map(monkeypatch, capsys, json.dumps(event).encode(), "--source=stripe")
    assert code == 1
    assert output is None
    assert "mapping error: Stripe invoice has no id" in err


def test_ignored_topic_exits_0_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output, err = run_map(
        monkeypatch, capsys, b"{}", "--source=shopify", "--topic=products/create"
    )
    assert code == 0
    assert output == []
    assert "ignored: Shopify topic 'products/create' is not handled" in err


def test_payload_with_nothing_to_record_exits_0_as_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = json.dumps({"token": "abc", "email": None}).encode()
    code, output, err = run_map(
        monkeypatch, capsys, payload, "--source=shopify", "--topic=checkouts/create"
    )
    assert (code, output) == (0, [])
    assert "skipped" in err


def test_input_that_is_not_a_json_object_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_map(monkeypatch, capsys, b"[1, 2]", "--source=stripe")
    assert code == 2
    assert "JSON object" in err


def test_shopify_needs_a_topic(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_map(monkeypatch, capsys, b"{}", "--source=shopify", "--shop=a.myshopify.com")
    assert code == 2
    assert "--topic is required" in err


def test_form_uses_its_config_file_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "adapter.toml"
    config.write_text(
        """
[mapping]
default_phone_region = "SA"

[forms.quote]
name = "Quote"
auth = { kind = "token", secrets = ["t0ken"] }
fields = { mobile_no = "phone" }
tags = ["web"]
""",
        encoding="utf-8",
    )
    body = b"full_name=Noha+Saleh&mobile_no=0501234567&id=42"
    code, commands, _ = run_map(
        monkeypatch, capsys, body, "--source=form", "--form-id=quote", f"--config={config}"
    )
    assert code == 0
    (command,) = commands
    assert command["external_id"] == "form:quote:42"
    assert command["lead"]["contact"]["phones"] == ["+966501234567"]
    assert command["lead"]["deal"]["title"] == "Quote: Noha Saleh"
    assert command["lead"]["deal"]["tags"] == ["web"]


@pytest.mark.slow
def test_console_script_maps_stdin() -> None:
    result = subprocess.run(
        adapter_command("map", "--source", "stripe"),
        input=SESSION.read_bytes(),
        capture_output=True,
        check=False,
        env={**os.environ, "ADAPTER_CONFIG": ""},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["kind"] == "upsert_deal"
