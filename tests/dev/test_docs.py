"""docs/quickstart.md shows what `adapter dev` really prints."""

from __future__ import annotations

from pathlib import Path

from adapter.dev import config
from adapter.dev.banner import SEND_HEADING, crm_command, send_command

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"


def test_the_quickstart_shows_the_printed_send_command() -> None:
    text = QUICKSTART.read_text()

    assert SEND_HEADING in text
    assert send_command() in text


def test_the_quickstart_shows_the_dev_secrets() -> None:
    text = QUICKSTART.read_text()

    for secret in (config.SHOPIFY_SECRET, config.STRIPE_SECRET, config.FORM_SECRET):
        assert secret in text


def test_the_quickstart_reads_the_crm_as_dev_mode_says() -> None:
    command = crm_command(
        "http://127.0.0.1:8100/functions/v1",
        "cg_sandbox_dev_key",
        "deals",
        "title,value,currency,stage",
    )
    url, header = command.split(" -H ")
    text = QUICKSTART.read_text()

    assert url in text
    assert f"-H {header}" in text
