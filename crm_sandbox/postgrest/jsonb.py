"""PostgreSQL's jsonb semantics: storage order, text output, equality, containment, ordering.

Python's `None` is a JSON null inside a document; a JSON null produced by the `->`
operator at the top is `JSON_NULL`, because SQL NULL (`None`) is something else.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Final


class _JsonNull:
    def __repr__(self) -> str:
        return "JSON_NULL"


JSON_NULL: Final = _JsonNull()


def _key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return (len(raw), raw)


def canonical(value: Any) -> Any:
    """The document as jsonb stores it: object keys shortest first, then bytewise."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=_key_order)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def number(value: Any) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def to_text(value: Any) -> str | None:
    """What `->>` yields: strings bare, numbers and literals as text, SQL NULL for null."""
    if value is None or value is JSON_NULL:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(number(value), "f")
    if isinstance(value, int | Decimal):
        return str(value)
    return json.dumps(canonical(value), separators=(", ", ": "), ensure_ascii=False)


def _plain(value: Any) -> Any:
    return None if value is JSON_NULL else value


def equal(a: Any, b: Any) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if is_number(a) and is_number(b):
        return number(a) == number(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return a is None and b is None


def contains(a: Any, b: Any, top: bool = True) -> bool:
    """`a @> b`."""
    a, b = _plain(a), _plain(b)
    if isinstance(b, dict):
        return isinstance(a, dict) and all(
            k in a and contains(a[k], v, False) for k, v in b.items()
        )
    if isinstance(b, list):
        if not isinstance(a, list):
            return False
        return all(any(contains(x, y, False) for x in a) for y in b)
    if isinstance(a, list):
        # Only at the top does an array contain a bare scalar.
        return top and any(not isinstance(x, dict | list) and equal(x, b) for x in a)
    return not isinstance(a, dict) and equal(a, b)


def sort_key(value: Any) -> tuple[Any, ...]:
    """jsonb's btree order: null < string < number < boolean < array < object."""
    value = _plain(value)
    if value is None:
        return (0,)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, bool):
        return (3, value)
    if is_number(value):
        return (2, number(value))
    if isinstance(value, list):
        return (4, len(value), tuple(sort_key(v) for v in value))
    if isinstance(value, dict):
        ordered = sorted(value, key=_key_order)
        return (5, len(value), tuple((_key_order(k), sort_key(value[k])) for k in ordered))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def parse_literal(text: str) -> Any:
    """A jsonb literal from a query string; ValueError when it is not JSON."""

    def no_constants(name: str) -> Any:
        raise ValueError(name)

    value = json.loads(text, parse_float=Decimal, parse_constant=no_constants)
    return JSON_NULL if value is None else value
