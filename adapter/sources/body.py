"""Reading a verified body: strict UTF-8, strict JSON, an object at the top."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from adapter.sources.errors import InvalidPayload


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; they would also not survive the queue's JSON round trip
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def decode_utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("body is not valid UTF-8") from None


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body's JSON object; InvalidPayload for anything else."""
    text = decode_utf8(body)
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise InvalidPayload("body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidPayload("body is not a JSON object")
    return value


def body_digest(body: bytes) -> str:
    """The fallback delivery id when a source sends none: the body's SHA-256."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


# where a signed body that is not a JSON object is kept (see `read_signed`)
UNREADABLE_BODY_KEY = "unreadable_body"


def read_signed(body: bytes) -> tuple[dict[str, Any], bool]:
    """A verified body's JSON object and True; or, when it is not one, its text under
    `unreadable_body` and False. For providers that disable or give up on an endpoint
    answering 4xx: the delivery is queued as it is and the worker dead-letters it."""
    try:
        return parse_json_object(body), True
    except InvalidPayload:
        return {UNREADABLE_BODY_KEY: body.decode("utf-8", errors="replace")}, False
