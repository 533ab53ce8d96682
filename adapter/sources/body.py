"""Reading a verified body: strict UTF-8, strict JSON, an object at the top.

What is accepted, and the value it gives, is what `json.loads` gives (without NaN or
Infinity). orjson reads the common body: it parsed a 3.5 KB Shopify order in a quarter
of json's time, on the path a provider waits for (docs/benchmarks.md). Where the two
could differ, json decides: a body orjson refuses (a lone surrogate escape, a number
beyond a double, invalid UTF-8, anything that is not JSON) is read again by json,
which accepts it or names what is wrong; a body with a run of 19 or more digits (an
integer that may not fit in 64 bits, which some orjson versions turn into a float)
goes to json directly, and so does a body that could nest deeper than json reads
(orjson reads 1024 levels, json as deep as the interpreter's recursion limit allows).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import orjson

from adapter.sources.errors import InvalidPayload

# an integer of 18 digits or fewer fits in 64 bits, which orjson reads exactly; a run
# of 19 digits is found as 19 zeros once every digit reads as one (a regular
# expression took five times orjson's parse to look for it)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
# json nests as deep as the recursion limit (1000) less the frames below it; no more
# brackets than this, no deeper nesting (a 28 KB Shopify order has 231)
_FEW_BRACKETS = 900


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
    brackets = body.count(b"{") + body.count(b"[")
    if brackets < _FEW_BRACKETS and _LONG_DIGITS not in body.translate(_DIGITS_AS_ZERO):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
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
