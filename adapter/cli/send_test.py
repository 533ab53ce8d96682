"""`adapter send-test`: post a sample delivery, signed as the provider signs it.

`build_delivery()` and `curl_command()` are reused by dev mode to print a
ready-to-paste command.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapter import samples, signing
from adapter.cli import store_samples
from adapter.cli.config import EXIT_INVALID, add_config_argument
from adapter.cli.target import load_target
from adapter.settings import Settings

HELP = "Send a signed sample delivery to a running adapter (or print it as a curl command)."
SOURCES = ("shopify", "stripe", "form", *store_samples.SOURCES)
DEFAULT_SHOP = "riyadh-oud.myshopify.com"


class SendTestError(Exception):
    """The delivery cannot be built or sent; the message says why."""


@dataclass(frozen=True)
class TestDelivery:
    url: str
    headers: dict[str, str]
    body: bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=SOURCES, required=True)
    parser.add_argument(
        "--topic",
        help="Shopify topic or Stripe event type (default: orders/create, "
        "checkout.session.completed)",
    )
    parser.add_argument(
        "--url",
        help="where to post (default: the running `adapter dev`, else "
        "http://127.0.0.1:$PORT/webhooks/<source>)",
    )
    parser.add_argument("--secret", help="signing secret (default: the first configured one)")
    parser.add_argument("--form-id", help="form to post to (default: the first configured form)")
    parser.add_argument(
        "--shop",
        help=f"Shopify shop domain (default: {DEFAULT_SHOP}), WooCommerce store "
        "or Paymob integration",
    )
    parser.add_argument("--file", type=Path, help="JSON payload to send instead of the sample")
    parser.add_argument(
        "--print-curl", action="store_true", help="print a curl command instead of sending"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default: 10)")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    # without --url: the running dev mode, if there is one, with its secrets and form
    target = load_target(args.config, follow_dev=lambda settings: args.url is None)
    settings = target.settings
    url = args.url if target.dev is None else target.dev.web_url
    try:
        payload = _read_payload(args.file) if args.file else None
        delivery = build_delivery(
            settings,
            args.source,
            topic=args.topic,
            url=url,
            secret=args.secret,
            form_id=args.form_id,
            shop=args.shop,
            payload=payload,
        )
    except (SendTestError, samples.UnknownSample) as exc:
        print(f"adapter send-test: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.print_curl:
        print(curl_command(delivery))
        return 0
    try:
        response = send(delivery, timeout=args.timeout)
    except SendTestError as exc:
        print(f"adapter send-test: {exc}", file=sys.stderr)
        return 1
    print(f"POST {delivery.url} -> HTTP {response.status_code}")
    if response.text:
        print(response.text)
    return 0 if response.is_success else 1


def _read_payload(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SendTestError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise SendTestError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise SendTestError(f"{path} must hold a JSON object")
    return payload


def default_base_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"


def _target(url: str | None, path: str) -> str:
    if url is None:
        return default_base_url() + path
    # a bare base URL gets the source's path; a URL with a path is used as given
    return url.rstrip("/") + path if urlsplit(url).path in ("", "/") else url


def build_delivery(
    settings: Settings,
    source: str,
    *,
    topic: str | None = None,
    url: str | None = None,
    secret: str | None = None,
    form_id: str | None = None,
    shop: str | None = None,
    payload: dict[str, Any] | None = None,
) -> TestDelivery:
    """A signed delivery for `source`, from `payload` or the bundled sample."""
    if source == "shopify":
        return _shopify(settings, topic, url, secret, shop, payload)
    if source == "stripe":
        return _stripe(settings, topic, url, secret, payload)
    if source == "form":
        return _form(settings, url, secret, form_id, payload)
    if source in store_samples.SOURCES:
        try:
            path, headers, body = store_samples.build(
                settings, source, topic=topic, secret=secret, store=shop, payload=payload
            )
        except store_samples.StoreSampleError as exc:
            raise SendTestError(str(exc)) from None
        return TestDelivery(_target(url, path), headers, body)
    raise SendTestError(f"unknown source {source!r} (use {', '.join(SOURCES)})")


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def _shopify(
    settings: Settings,
    topic: str | None,
    url: str | None,
    secret: str | None,
    shop: str | None,
    payload: dict[str, Any] | None,
) -> TestDelivery:
    topic = topic or samples.DEFAULT_TOPICS["shopify"]
    body = _encode(payload if payload is not None else samples.load_sample("shopify", topic))
    shop_domain = shop or next(iter(settings.shopify_shop_secrets), DEFAULT_SHOP)
    if secret is None:
        configured = [
            *settings.shopify_webhook_secrets,
            *settings.shopify_shop_secrets.get(shop_domain, []),
        ]
        if not configured:
            raise SendTestError("no Shopify secret configured for that shop: pass --secret")
        secret = configured[0].get_secret_value()
    headers = signing.shopify_headers(body, secret, topic, shop_domain)
    return TestDelivery(_target(url, "/webhooks/shopify"), headers, body)


def _stripe(
    settings: Settings,
    topic: str | None,
    url: str | None,
    secret: str | None,
    payload: dict[str, Any] | None,
) -> TestDelivery:
    if payload is None:
        payload = samples.load_sample("stripe", topic)
    elif topic:
        payload["type"] = topic
    # every send is a new event, or the adapter would drop it as a duplicate
    payload["id"] = signing.new_stripe_event_id()
    payload["created"] = int(time.time())
    if secret is None:
        if not settings.stripe_webhook_secrets:
            raise SendTestError("STRIPE_WEBHOOK_SECRETS is empty: pass --secret")
        secret = settings.stripe_webhook_secrets[0].get_secret_value()
    body = _encode(payload)
    headers = signing.stripe_headers(body, secret)
    return TestDelivery(_target(url, "/webhooks/stripe"), headers, body)


def _form(
    settings: Settings,
    url: str | None,
    secret: str | None,
    form_id: str | None,
    payload: dict[str, Any] | None,
) -> TestDelivery:
    if form_id is None:
        if not settings.forms:
            raise SendTestError("no form configured: add a [forms.<id>] table to the config")
        form_id = next(iter(settings.forms))
    form = settings.forms.get(form_id)
    if form is None:
        known = ", ".join(settings.forms) or "none"
        raise SendTestError(f"form {form_id!r} is not configured (configured: {known})")
    body = _encode(payload if payload is not None else samples.load_sample("form"))
    headers = signing.form_headers(body, form.auth, secret)
    return TestDelivery(_target(url, f"/webhooks/forms/{form_id}"), headers, body)


def send(delivery: TestDelivery, timeout: float = 10.0) -> httpx.Response:
    try:
        return httpx.post(
            delivery.url, content=delivery.body, headers=delivery.headers, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise SendTestError(f"POST {delivery.url} failed: {exc}") from exc


def curl_command(delivery: TestDelivery) -> str:
    """A ready-to-paste curl command; timestamped signatures expire after a few minutes."""
    parts = ["curl", "-sS", "-X", "POST", shlex.quote(delivery.url)]
    for name, value in delivery.headers.items():
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    parts += ["--data-binary", shlex.quote(delivery.body.decode())]
    return " \\\n  ".join(_pairs(parts))


def _pairs(parts: list[str]) -> list[str]:
    # one option and its value per line, so the command stays readable
    lines = [" ".join(parts[:5])]
    rest = parts[5:]
    for i in range(0, len(rest), 2):
        lines.append(" ".join(rest[i : i + 2]))
    return lines
