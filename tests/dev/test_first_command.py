"""The README's first command, as a new user runs it: start it, paste what it prints."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dev.support import Dev, user_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

SEND_PREFIX = "adapter send-test "


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    process = Dev(tmp_path).start()
    yield process
    process.kill()


def test_the_printed_send_command_lands_a_deal_then_ctrl_c_exits_130(dev: Dev) -> None:
    command = dev.wait_for_line(SEND_PREFIX)

    # pasted into another terminal, exactly as printed
    sent = subprocess.run(  # noqa: S602 - a shell, as the user's terminal
        command, shell=True, env=user_env(), capture_output=True, text=True, timeout=60
    )

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "HTTP 202" in sent.stdout
    deals = wait_until(dev.deals, timeout=30, interval=0.5, message="the order in the CRM")
    assert [d["title"] for d in deals] == ["Order #1042"]
    assert (deals[0]["value"], deals[0]["currency"]) == (945, "SAR")

    dev.signal(signal.SIGINT)

    # 130: what a shell expects of a program stopped by Ctrl-C
    assert dev.wait(timeout=30) == 130, dev.logs()
    assert "adapter dev: stopped" in dev.logs()
    assert "Traceback" not in dev.logs()


def test_sigterm_stops_everything_and_exits_0(dev: Dev) -> None:
    dev.wait_for_line(SEND_PREFIX)

    dev.signal(signal.SIGTERM)

    assert dev.wait(timeout=30) == 0, dev.logs()


def test_the_banner_names_urls_dev_secrets_and_how_to_read_the_crm(dev: Dev) -> None:
    dev.wait_for_line("curl -s 'http://127.0.0.1")
    out = dev.output

    assert f"http://127.0.0.1:{dev.port}/webhooks/shopify" in out
    assert f"http://127.0.0.1:{dev.port}/webhooks/stripe" in out
    assert f"http://127.0.0.1:{dev.port}/webhooks/forms/contact" in out
    assert "dev-only-shopify-secret" in out
    assert "whsec_dev_only_stripe_secret" in out
    assert f"http://127.0.0.1:{dev.sandbox_port}/functions/v1/rest-api-proxy/deals" in out
    assert "X-API-Key: cg_sandbox_dev_key" in out
