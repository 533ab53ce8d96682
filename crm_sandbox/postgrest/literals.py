"""Reading query-string literals as PostgreSQL reads them, with its 22P02 errors."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from crm_sandbox.errors import PostgrestError, invalid_input
from crm_sandbox.postgrest.grammar import scan_quoted

_NUMERIC = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_TRUE = frozenset({"t", "true", "y", "yes", "on", "1"})
_FALSE = frozenset({"f", "false", "n", "no", "off", "0"})


def read_uuid(text: str) -> str:
    try:
        return str(UUID(text.strip()))
    except ValueError:
        raise invalid_input("uuid", text) from None


def read_numeric(text: str) -> Decimal:
    if not _NUMERIC.fullmatch(text):
        raise invalid_input("numeric", text)
    return Decimal(text.strip())


def read_boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise invalid_input("boolean", text)


def read_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise invalid_input("date", text) from None


def read_timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise invalid_input("timestamp with time zone", text) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _malformed(text: str, details: str) -> PostgrestError:
    return PostgrestError(400, "22P02", f'malformed array literal: "{text}"', details)


def read_array(text: str) -> list[str | None]:
    """A one-dimensional PostgreSQL array literal such as `{a,"b c",NULL}`."""
    i, n = 0, len(text)
    while i < n and text[i].isspace():
        i += 1
    if i >= n or text[i] != "{":
        raise _malformed(text, 'Array value must start with "{" or dimension information.')
    i += 1
    items: list[str | None] = []
    while i < n and text[i].isspace():
        i += 1
    if i < n and text[i] == "}":
        return _after_brace(text, i + 1, items)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise _malformed(text, "Unexpected end of input.")
        if text[i] == '"':
            item, i = _quoted_element(text, i)
            items.append(item)
        else:
            start = i
            chunk: list[str] = []
            while i < n and text[i] not in ",}":
                if text[i] in '{"':
                    raise _malformed(text, f'Unexpected "{text[i]}" character.')
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chunk.append(text[i])
                i += 1
            raw = "".join(chunk).rstrip()
            if not raw:
                raise _malformed(text, f'Unexpected "{text[i] if i < n else ""}" character.')
            items.append(None if text[start:i].strip().upper() == "NULL" else raw)
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise _malformed(text, "Unexpected end of input.")
        if text[i] == "}":
            return _after_brace(text, i + 1, items)
        if text[i] != ",":
            raise _malformed(text, f'Unexpected "{text[i]}" character.')
        i += 1


def _quoted_element(text: str, i: int) -> tuple[str, int]:
    scanned = scan_quoted(text, i)
    if scanned is None:
        raise _malformed(text, "Unexpected end of input.")
    return scanned


def _after_brace(text: str, i: int, items: list[str | None]) -> list[str | None]:
    if text[i:].strip():
        raise _malformed(text, "Junk after closing right brace.")
    return items


# A "+" sent unencoded in a query string arrives as a space (crm-api.md §8, "Common
# gotchas": `malformed array literal: "{ +201..."`). The CRM refuses such a phone filter
# instead of quietly matching nothing, and so does the sandbox.
_SPACE_BEFORE_DIGITS = re.compile(r'[{,]\s*"?\s+\d')


def check_phone_literal(text: str) -> None:
    if _SPACE_BEFORE_DIGITS.search(text):
        raise PostgrestError(
            400,
            "22P02",
            f'malformed array literal: "{text}"',
            'Unexpected " " character.',
            'A "+" that is not URL-encoded arrives as a space: send it as %2B '
            "(or use curl --data-urlencode).",
        )
