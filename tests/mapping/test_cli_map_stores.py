"""`adapter map --source woocommerce|salla|paymob` on the bundled samples."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "adapter/samples"


@pytest.fixture(autouse=True)
def no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTER_CONFIG", "")


def run_map(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: bytes, *args: str
) -> tuple[int, Any, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(["map", *args])
    captured = capsys.readouterr()
    output = json.loads(captured.out) if captured.out.strip() else None
    return code, output, captured.err


def test_woocommerce_order_maps_with_the_given_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (SAMPLES / "woocommerce_order.json").read_bytes()
    code, commands, _ = run_map(
        monkeypatch, capsys, body, "--source=woocommerce", "--topic=order.created", "--shop=oud"
    )
    assert code == 0
    command, *_ = commands
    assert command["external_id"] == "woocommerce:oud:order:4750"
    assert command["deal"]["contact_phone"] == "+966501234567"


def test_woocommerce_needs_a_topic(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (SAMPLES / "woocommerce_order.json").read_bytes()
    code, _, err = run_map(monkeypatch, capsys, body, "--source=woocommerce")
    assert code == 2
    assert "--topic" in err


@pytest.mark.parametrize(
    ("sample", "kind", "external_id"),
    [
        ("salla_order.json", "upsert_deal", "salla:1305146709:order:2116149737"),
        ("salla_customer.json", "upsert_contact", "salla:1305146709:customer:225167972"),
        ("salla_abandoned_cart.json", "create_lead", "salla:1305146709:cart:1097962121"),
    ],
)
def test_salla_topic_and_merchant_come_from_the_envelope(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sample: str,
    kind: str,
    external_id: str,
) -> None:
    code, commands, _ = run_map(
        monkeypatch, capsys, (SAMPLES / sample).read_bytes(), "--source=salla"
    )
    assert code == 0
    command, *_ = commands
    assert (command["kind"], command["external_id"]) == (kind, external_id)


def test_paymob_topic_comes_from_the_callback_type(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (SAMPLES / "paymob_transaction.json").read_bytes()
    code, commands, _ = run_map(monkeypatch, capsys, body, "--source=paymob")
    assert code == 0
    command, *_ = commands
    assert command["deal"]["value"] == 1000
    assert command["deal"]["currency"] == "EGP"


def test_paymob_token_callback_is_ignored(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, commands, err = run_map(
        monkeypatch, capsys, b'{"type": "TOKEN", "obj": {"id": 1}}', "--source=paymob"
    )
    assert (code, commands) == (0, [])
    assert "ignored" in err
