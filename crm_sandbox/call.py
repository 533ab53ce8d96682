"""One API call as the handlers see it, and what they answer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from crm_sandbox.errors import ApiError

NO_BODY: Final = object()


@dataclass(frozen=True)
class Call:
    org_id: str
    method: str
    path: str  # relative to /functions/v1, e.g. "/create-deals-bulk"
    query: list[tuple[str, str]]
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    now: str
    # What the handler saw, for /_sandbox/stats: e.g. {"bulk_rows": 100}.
    observed: dict[str, int] = field(default_factory=dict)


@dataclass
class Reply:
    status: int
    body: Any = NO_BODY
    headers: dict[str, str] = field(default_factory=dict)


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def load_json(body: bytes) -> Any:
    """The request body as JSON; ValueError when it is not (NaN and Infinity included)."""
    return json.loads(body.decode("utf-8"), parse_constant=_no_constants)


def json_object(call: Call) -> dict[str, Any]:
    """The body of one of the CRM's functions: a JSON object, or 400."""
    try:
        payload = load_json(call.body)
    except ValueError:
        raise ApiError(400, "Invalid JSON body") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return payload


def batch(call: Call, data: dict[str, Any], key: str, limit: int) -> list[Any]:
    """The rows of a bulk call, counted for the stats even when refused."""
    items = data.get(key)
    if not isinstance(items, list) or not items:
        raise ApiError(400, f"{key} must be a non-empty array")
    call.observed["bulk_rows"] = len(items)
    if len(items) > limit:
        raise ApiError(400, f"Maximum batch size is {limit} {key}")
    return items


def flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"{key} must be a boolean")
    return value
