"""Reading untrusted payloads: every reader answers None (or empty) instead of raising.

Webhook bodies change shape between API versions and may carry nulls, numbers as
strings or strings as numbers; mappers read them only through these helpers, and
normalise what they read with `adapter.crm.normalize`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter.crm.normalize import clean_text, normalize_custom_fields, parse_decimal

# Unix timestamps between 1970 and 9999
_MAX_EPOCH = 253402300799
# larger integers are no ids of ours (and str() of huge ints is refused)
_MAX_INT = 10**40


def obj(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def child(parent: dict[str, Any], key: str) -> dict[str, Any]:
    return obj(parent.get(key))


def records(parent: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The JSON objects in a list field; anything else is skipped."""
    value = parent.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def text(value: Any) -> str | None:
    """A non-empty, stripped, storable string; integers (ids) become strings; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if abs(value) < _MAX_INT else None
    cleaned = clean_text(value)
    if cleaned is None:
        return None
    return cleaned.strip() or None


def texts(values: Any) -> list[str]:
    """The strings of a JSON list (see `text`); anything but a list gives none."""
    if not isinstance(values, list):
        return []
    return [t for t in (text(v) for v in values) if t is not None]


def ident(value: Any) -> str | None:
    """A Stripe-style reference: the id string itself, or an expanded object's `id`."""
    if isinstance(value, dict):
        return text(value.get("id"))
    return text(value)


def integer(value: Any) -> int | None:
    """An integer from a JSON integer or an integral numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < _MAX_INT else None
    number = parse_decimal(value)
    if number is None or number != number.to_integral_value() or abs(number) >= _MAX_INT:
        return None
    return int(number)


def boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def timestamp(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string or a Unix timestamp; naive means UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not 0 <= value <= _MAX_EPOCH:
            return None
        return datetime.fromtimestamp(value, tz=UTC)
    raw = text(value)
    if raw is None:
        return None
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed


def custom_fields(values: dict[str, Any]) -> dict[str, Any]:
    """custom_fields the CRM accepts, without the empty values mappers read."""
    present = {
        key: value
        for key, value in values.items()
        if value is not None and value != "" and value != [] and value != {}
    }
    return normalize_custom_fields(present)
