"""The benchmark's Shopify delivery: a ~3 KB order cut from the repository's own sample
(`adapter/samples`), so that a clone benchmarks without anything beside it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from adapter import samples

SECRET = "shpss_bench_secret"  # noqa: S105 - the benchmark's own throwaway secret
SHOP = "bench-store.myshopify.com"


def order_body() -> bytes:
    """The sample order without its `*_set` money duplicates, shipping lines and
    addresses, and with one line item: the shape of a real order, about 3 KB."""
    order = samples.load_sample("shopify", "orders/create")
    body = {
        key: value
        for key, value in order.items()
        if not key.endswith("_set")
        and key not in ("line_items", "shipping_lines", "billing_address", "shipping_address")
    }
    item = order["line_items"][0]
    body["line_items"] = [{k: v for k, v in item.items() if not k.endswith("_set")}]
    return json.dumps(body).encode("utf-8")


def request_template(path: str, host: str, body: bytes) -> tuple[bytes, bytes]:
    """The raw HTTP/1.1 request split around its webhook id, which each request fills in."""
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Shopify-Topic: orders/create\r\n"
        f"X-Shopify-Hmac-Sha256: {signature.decode()}\r\n"
        f"X-Shopify-Shop-Domain: {SHOP}\r\n"
        "X-Shopify-API-Version: 2026-07\r\n"
        "X-Shopify-Webhook-Id: "
    ).encode()
    return head, b"\r\n\r\n" + body
