"""The status page in a real headless Chromium, against the app under a real uvicorn."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import redis

from tests.ops_endpoints.browser import DevTools, chromium, dump_dom, screenshot
from tests.ops_endpoints.support import (
    ADMIN_TOKEN,
    Served,
    order_body,
    put_dead_letter,
    shopify_headers,
)
from workers.deadletters import DeadLetters

pytestmark = pytest.mark.slow

# CI installs Debian's chromium (scripts/test): a missing browser is a failure, not a skip.
assert chromium() is not None, "chromium is not installed (apt-get install chromium)"


class Forms(HTMLParser):
    """The forms of a page: action, method and the names of their inputs and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append({**found, "inputs": {}, "buttons": 0})
        elif tag == "input" and self.forms:
            inputs = self.forms[-1]["inputs"]
            assert isinstance(inputs, dict)
            inputs[found.get("name")] = found.get("value")
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"] = int(str(self.forms[-1]["buttons"])) + 1


@pytest.fixture
def seeded(http: httpx.Client, text_redis: redis.Redis) -> str:
    """Two deliveries (one resent), one refused, one dead letter; its id."""
    body = order_body()
    headers = shopify_headers(body, webhook_id="seen-twice")
    http.post("/webhooks/shopify", content=body, headers=headers)
    http.post("/webhooks/shopify", content=body, headers=headers)
    http.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    http.post("/webhooks/shopify", content=body, headers={"X-Shopify-Topic": "orders/create"})
    return put_dead_letter(text_redis, "dead-in-browser")


def login_url(served: Served) -> str:
    return f"{served.url}/status?token={ADMIN_TOKEN}"


def test_chromium_renders_the_counts_and_the_dead_letter(
    served: Served, seeded: str, tmp_path: Path
) -> None:
    dom = dump_dom(login_url(served), tmp_path / "profile")
    row = re.search(r'<tr><td data-label="source">shopify</td>(.*?)</tr>', dom)
    assert row is not None, dom[:2000]
    assert re.findall(r'<td class="n"[^>]*>(\d+)</td>', row.group(1)) == ["2", "1", "0", "0", "1"]
    assert "Dead letters (1)" in dom
    assert seeded in dom
    assert "seen-twice" in dom


def test_chromium_renders_the_replay_button_as_a_csrf_protected_post(
    served: Served, seeded: str, tmp_path: Path
) -> None:
    parser = Forms()
    parser.feed(dump_dom(login_url(served), tmp_path / "profile"))
    (form,) = parser.forms
    assert (form["action"], form["method"], form["buttons"]) == ("/status/replay", "post", 1)
    inputs = form["inputs"]
    assert isinstance(inputs, dict)
    assert inputs["id"] == seeded
    assert re.fullmatch(r"[0-9a-f]{64}", str(inputs["csrf"]))


def test_chromium_takes_a_screenshot_of_the_page(
    served: Served, seeded: str, tmp_path: Path
) -> None:
    picture = tmp_path / "status.png"
    screenshot(login_url(served), picture, tmp_path / "profile")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 10_000


def test_clicking_replay_in_chromium_replays_the_dead_letter(
    served: Served, seeded: str, tmp_path: Path, text_redis: redis.Redis
) -> None:
    with DevTools(tmp_path / "profile") as browser:
        browser.load(login_url(served))
        assert browser.evaluate("location.pathname") == "/status"
        browser.evaluate("document.querySelector('form.replay button').click()")
        browser.wait_for_event("Page.loadEventFired")
        flash = browser.evaluate("document.querySelector('.flash').textContent")
        dead = browser.evaluate("document.getElementById('dead-letters').textContent")
    assert flash.startswith(f"{seeded}: replayed")
    assert dead == "Dead letters (0)"
    assert DeadLetters(text_redis).count() == 0
