"""The orders wrk sends: a pool of distinct, pre-signed ~3.5 KB Shopify orders.

Shopify signs the body only; the webhook id is a header. So wrk's Lua cycles through
the pool for bodies (each with its own order id and a valid signature computed here)
and gives every request a webhook id of its own, without signing anything in Lua.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

from bench.ingest.payload import SECRET, order_body


def signed_orders(count: int, secret: str = SECRET) -> list[tuple[str, bytes]]:
    """(signature, body) for `count` orders that differ in id, number and name."""
    template = json.loads(order_body())
    found = []
    for n in range(count):
        order = {**template, "id": 7_000_000_000_000 + n, "order_number": 10_000 + n}
        order["name"] = f"#{10_000 + n}"
        body = json.dumps(order).encode()
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        found.append((base64.b64encode(digest).decode(), body))
    return found


def write_pool(path: Path, count: int) -> int:
    """One `signature<TAB>body` line per order (json.dumps writes no tab or newline);
    returns the mean body size in bytes."""
    orders = signed_orders(count)
    with path.open("wb") as out:
        for signature, body in orders:
            out.write(signature.encode() + b"\t" + body + b"\n")
    return sum(len(body) for _, body in orders) // len(orders)
