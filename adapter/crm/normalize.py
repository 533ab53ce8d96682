"""Normalisation: messy source values in, values the CRM contract accepts out.

Every function here is pure and total: it takes any object and never raises.
A value that cannot be made valid comes back as None (or is left out of a list),
and the helpers that matter for identity (phones, emails) keep the raw value in
custom fields, so nothing a customer typed is lost.

Phones are kept only when `phonenumbers.is_valid_number` accepts them (not merely
`is_possible_number`): a number in an unassigned range would create a contact no
one can call, and would not match the same customer's correct number later.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

from adapter.crm.models import (
    CURRENCY_PATTERN,
    CUSTOM_FIELD_KEY_PATTERN,
    CUSTOM_FIELDS_MAX_BYTES,
    CUSTOM_FIELDS_MAX_DEPTH,
    DESCRIPTION_MAX,
    E164_PATTERN,
    EMAIL_PATTERN,
    MONEY_LIMIT,
    MONEY_MAX_DIGITS,
    NAME_MAX,
    SOURCE_MAX,
    STAGE_MAX,
    STAGE_PATTERN,
    TAG_MAX,
    TITLE_MAX,
    custom_fields_size,
    decimal_to_number,
    significant_digits,
)

EXTERNAL_ID_KEY = "external_id"
DROPPED_FIELDS_KEY = "dropped_fields"
RAW_PHONE_KEY = "raw_phone"
RAW_EMAIL_KEY = "raw_email"

# ISO 4217 minor units (list one of 2026-01-01) where they are not 2.
_ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
CURRENCY_EXPONENTS: Mapping[str, int] = {
    **dict.fromkeys(_ZERO_DECIMAL.split(), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
DEFAULT_EXPONENT = 2

_E164_RE = re.compile(E164_PATTERN)
_EMAIL_RE = re.compile(EMAIL_PATTERN)
_KEY_RE = re.compile(CUSTOM_FIELD_KEY_PATTERN)
_STAGE_RE = re.compile(STAGE_PATTERN)
_CURRENCY_RE = re.compile(CURRENCY_PATTERN)
_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?")
_REGION_RE = re.compile(r"[A-Z]{2}")
_INTERNATIONAL_00 = re.compile(r"^\s*(\+\s*)?0\s*0(?=\s*[1-9])")
_SPACES = re.compile(r"\s+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_KEY_CHARS = re.compile(r"[^a-z0-9]+")
# Letters NFKD does not decompose into ASCII.
_ASCII_FOLD = str.maketrans(
    {
        "ß": "ss", "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "Oe",
        "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d",
        "Ð": "D", "ı": "i",
    }
)  # fmt: skip
_REGION_ALIASES = {"UK": "GB"}
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))

MAX_PHONE_INPUT = 100
MAX_EMAIL_LENGTH = 254
MAX_DECIMAL_INPUT = 100
# Dropped-field names recorded individually; the rest are counted.
MAX_DROPPED_NAMES = 100


# --- text ------------------------------------------------------------------


def clean_text(value: object) -> str | None:
    """A str with NUL, other control characters and unpaired surrogates removed; else None."""
    if not isinstance(value, str):
        return None
    text = value.encode("utf-8", "replace").decode("utf-8")
    if text.isprintable():
        return text
    return "".join(ch for ch in text if ch in "\t\n\r" or unicodedata.category(ch) != "Cc")


def truncate_text(text: str, limit: int) -> str:
    """At most `limit` characters, cut between characters, never inside a combining sequence."""
    if len(text) <= limit:
        return text
    cut = max(limit, 0)
    # Step back while the first character left out still belongs to the one before it.
    while cut > 0 and limit - cut < 16 and _joins_previous(text[cut]):
        cut -= 1
    if cut == 0:
        cut = max(limit, 0)
    kept = text[:cut]
    if kept.endswith("\u200d"):
        kept = kept[:-1]
    return kept.rstrip()


def _joins_previous(ch: str) -> bool:
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch == "\u200d"
        or "\ufe00" <= ch <= "\ufe0f"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
    )


def _one_line(value: object) -> str:
    text = clean_text(value)
    return _SPACES.sub(" ", text).strip() if text else ""


def _line(value: object, limit: int) -> str | None:
    """One line of text: whitespace collapsed, trimmed, truncated; None when empty."""
    return truncate_text(_one_line(value), limit) or None


def normalize_name(value: object) -> str | None:
    """A first or last name: one trimmed line of at most 100 characters, or None."""
    return _line(value, NAME_MAX)


def split_full_name(value: object) -> tuple[str | None, str | None]:
    """(first, last) from a full name: the first word, then the rest."""
    first, _, last = _one_line(value).partition(" ")
    return normalize_name(first), normalize_name(last)


def normalize_title(value: object) -> str | None:
    """A deal title: one trimmed line of 1 to 200 characters, or None."""
    return _line(value, TITLE_MAX)


def normalize_source(value: object) -> str | None:
    """An origin label: one trimmed line of at most 50 characters, or None."""
    return _line(value, SOURCE_MAX)


def normalize_description(value: object) -> str | None:
    """Notes: trimmed, line breaks kept, at most 5000 characters, or None."""
    text = clean_text(value)
    if text is None:
        return None
    text = truncate_text(text.replace("\r\n", "\n").strip(), DESCRIPTION_MAX)
    return text or None


def normalize_tags(value: object) -> list[str]:
    """Tags from a list or a comma-separated string: trimmed, ≤ 50 chars, no empties or dupes."""
    if isinstance(value, str):
        items: Iterable[object] = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    elif isinstance(value, set | frozenset):
        items = sorted(value, key=_safe_str)
    else:
        return []
    tags: list[str] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        tag = _line(item, TAG_MAX)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def normalize_stage(value: object) -> str | None:
    """A pipeline stage id: trimmed and lowercased; None when it cannot be a stage id."""
    text = clean_text(value)
    if text is None:
        return None
    stage = text.strip().lower()
    if len(stage) > STAGE_MAX or not _STAGE_RE.fullmatch(stage):
        return None
    return stage


# --- emails and phones -----------------------------------------------------


def normalize_email(value: object) -> str | None:
    """A trimmed, lowercased email the CRM's regex accepts, or None."""
    if not isinstance(value, str):
        return None
    email = value.translate(_INVISIBLE).strip().lower()
    if email.startswith("mailto:"):
        email = email[len("mailto:") :]
    # A control character inside is damage, not decoration: removing it would invent an address.
    if not email.isprintable() or len(email) > MAX_EMAIL_LENGTH:
        return None
    if not _EMAIL_RE.fullmatch(email):
        return None
    return email


def phone_region(value: object) -> str | None:
    """A region code phonenumbers knows (`"eg"` → `"EG"`), or None."""
    if not isinstance(value, str):
        return None
    region = value.strip().upper()
    region = _REGION_ALIASES.get(region, region)
    if _REGION_RE.fullmatch(region) and region in phonenumbers.SUPPORTED_REGIONS:
        return region
    return None


def normalize_phone(
    value: object, region: object = None, default_region: object = None
) -> str | None:
    """E.164 of a valid number read in `region`, else `default_region`, else as `+digits`."""
    # Extensions are dropped: E.164 has no place for them.
    text = _phone_text(value)
    if text is None:
        return None
    # `00` is the international prefix nearly everywhere; the CRM would keep it as `+00…`.
    text = _INTERNATIONAL_00.sub("+", text, count=1)
    regions = [r for r in dict.fromkeys((phone_region(region), phone_region(default_region))) if r]
    attempts: list[tuple[str, str | None]] = [(text, r) for r in regions]
    if "+" in text:
        attempts.append((text, None))
    else:
        attempts.append(("+" + text, None))
    for candidate, hint in attempts:
        e164 = _valid_e164(candidate, hint)
        if e164:
            return e164
    return None


def _phone_text(value: object) -> str | None:
    """Phone input as text: a str, or a whole positive number (spreadsheets send those)."""
    if isinstance(value, str):
        text = clean_text(value) or ""
    else:
        number = None if isinstance(value, bool) else parse_decimal(value)
        is_whole = number is not None and 0 < number < 10**20 and number % 1 == 0
        text = str(int(number)) if is_whole and number is not None else ""
    if not text.strip() or len(text) > MAX_PHONE_INPUT:
        return None
    return text


def _valid_e164(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
        if not phonenumbers.is_valid_number(number):
            return None
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except Exception:  # phonenumbers raises its own and, on odd input, builtin errors
        return None
    return e164 if isinstance(e164, str) and _E164_RE.fullmatch(e164) else None


@dataclass
class ContactPoints:
    """Valid emails and phones of a record, and the raw invalid ones as custom fields."""

    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)


def split_contact_points(
    emails: object = None,
    phones: object = None,
    region: object = None,
    default_region: object = None,
) -> ContactPoints:
    """Valid emails and phones, the invalid ones kept as `raw_email` / `raw_phone` fields."""
    points = ContactPoints()
    raw_emails: list[str] = []
    raw_phones: list[str] = []
    for candidate in _candidates(emails):
        email = normalize_email(candidate)
        if email:
            if email not in points.emails:
                points.emails.append(email)
        else:
            _keep_raw(candidate, raw_emails)
    for candidate in _candidates(phones):
        phone = normalize_phone(candidate, region, default_region)
        if phone:
            if phone not in points.phones:
                points.phones.append(phone)
        else:
            _keep_raw(candidate, raw_phones)
    for key, raws in ((RAW_EMAIL_KEY, raw_emails), (RAW_PHONE_KEY, raw_phones)):
        if raws:
            points.custom_fields[key] = raws[0] if len(raws) == 1 else raws
    return points


def _candidates(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=_safe_str)
    return [value]


def _keep_raw(value: object, raws: list[str]) -> None:
    if value is None or isinstance(value, bool):
        return
    text = (clean_text(value) or "") if isinstance(value, str) else _safe_str(value)
    text = text.strip()
    if text and text not in raws:
        raws.append(text)


# --- money -----------------------------------------------------------------


def normalize_currency(value: object) -> str | None:
    """An upper-cased 3-letter currency code (`"usd"` → `"USD"`), or None."""
    text = clean_text(value)
    if text is None:
        return None
    code = text.strip().upper()
    return code if _CURRENCY_RE.fullmatch(code) else None


def currency_exponent(currency: object, overrides: Mapping[str, int] | None = None) -> int:
    """Digits after the decimal point of a currency's minor unit (ISO 4217, 2 when unknown)."""
    code = normalize_currency(currency) or ""
    for source, exponent in (overrides or {}).items():
        if normalize_currency(source) == code and isinstance(exponent, int):
            return exponent
    return CURRENCY_EXPONENTS.get(code, DEFAULT_EXPONENT)


def parse_decimal(value: object) -> Decimal | None:
    """An exact Decimal from a decimal string, int, Decimal or float (by its repr); else None."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int):
            if value.bit_length() > 200:
                return None
            number = Decimal(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                return None
            number = Decimal(repr(value))
        elif isinstance(value, str):
            text = value.strip()
            if len(text) > MAX_DECIMAL_INPUT or not _DECIMAL_RE.fullmatch(text):
                return None
            number = Decimal(text)
        else:
            return None
        if not number.is_finite() or abs(number.adjusted()) > 60:
            return None
        exponent = number.as_tuple().exponent
        # `1E+3` is written `1000`: a value that may end up in a title should read plainly.
        return Decimal(int(number)) if isinstance(exponent, int) and exponent > 0 else number
    except (InvalidOperation, ValueError, TypeError):
        return None


def minor_to_major(
    amount: object, currency: object, overrides: Mapping[str, int] | None = None
) -> Decimal | None:
    """Minor units (`1999`) as exact major units (`19.99`), by ISO 4217 or `overrides`."""
    number = parse_decimal(amount)
    if number is None or number != number.to_integral_value():
        return None
    if normalize_currency(currency) is None:
        return None
    exponent = currency_exponent(currency, overrides)
    if not 0 <= exponent <= 8:
        return None
    # Built from its digits, so no context precision can round it.
    sign, digits, _ = Decimal(int(number)).as_tuple()
    return Decimal((sign, digits, -exponent))


def money_amount(value: object) -> Decimal | None:
    """A deal value the contract accepts (≥ 0, below 10^15, ≤ 15 significant digits), or None."""
    number = parse_decimal(value)
    if number is None or number < 0 or number >= MONEY_LIMIT:
        return None
    if significant_digits(number) > MONEY_MAX_DIGITS:
        return None
    return Decimal(0) if number.is_zero() else number


# --- custom fields ---------------------------------------------------------


def custom_field_key(key: object) -> str:
    """A valid custom_fields key: `"Order ID"` → `order_id`; unusable → `field_<hash>`."""
    if isinstance(key, str) and _KEY_RE.fullmatch(key):
        return key
    text = clean_text(key) if isinstance(key, str) else _safe_str(key)
    text = text or ""
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    snake = _NOT_KEY_CHARS.sub("_", _CAMEL.sub("_", ascii_text).lower()).strip("_")
    if not snake:
        return f"field_{_short_hash(text)}"
    if len(snake) > 64:
        return _with_hash(snake, text)
    return snake


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:8]


def _with_hash(base: str, seed: str) -> str:
    """`base` shortened so that `_<8 hex>` fits in 64 characters."""
    return f"{base[:55].rstrip('_') or 'field'}_{_short_hash(seed)}"


def _safe_str(value: object) -> str:
    try:
        text = str(value)
    except Exception:  # a foreign object's __str__ may raise anything
        return f"<{type(value).__name__}>"
    return clean_text(text) or ""


def json_safe(value: object) -> Any:
    """The value in JSON types: Decimal → number, datetime → ISO text, set → list, else str."""
    # A Decimal a double cannot hold exactly becomes its text rather than a rounded number.
    return _json_safe(value, 0, set())


def _json_safe(value: object, depth: int, active: set[int]) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int):
        return value if value.bit_length() <= 1000 else _safe_str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        exact = value.is_finite() and significant_digits(value) <= MONEY_MAX_DIGITS
        return decimal_to_number(value) if exact and abs(value.adjusted()) <= 300 else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return clean_text(bytes(value).decode("utf-8", "replace"))
    if not isinstance(value, Mapping | list | tuple | set | frozenset):
        return _safe_str(value)
    if id(value) in active:
        return "<cycle>"
    if depth >= CUSTOM_FIELDS_MAX_DEPTH - 2:
        return _safe_str(value)[:1000]
    active.add(id(value))
    try:
        return _json_safe_container(value, depth, active)
    except Exception:  # a foreign container whose iteration fails
        return _safe_str(value)[:1000]
    finally:
        active.discard(id(value))


def _json_safe_container(value: object, depth: int, active: set[int]) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _unique(clean_text(key) if isinstance(key, str) else _safe_str(key), out)
            out[name] = _json_safe(item, depth + 1, active)
        return out
    assert isinstance(value, Iterable)
    items = [_json_safe(item, depth + 1, active) for item in value]
    if isinstance(value, set | frozenset):
        items.sort(key=lambda item: json.dumps(item, sort_keys=True, default=str))
    return items


def _unique(name: str | None, taken: Mapping[str, Any]) -> str:
    name = name or ""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def normalize_custom_fields(
    fields: object, max_bytes: int = CUSTOM_FIELDS_MAX_BYTES
) -> dict[str, Any]:
    """custom_fields the CRM accepts: unique valid keys, JSON values, at most `max_bytes`."""
    # Over the limit, the largest values go first (never `external_id`), and their names
    # are listed under `dropped_fields`, so the request is trimmed rather than refused.
    if not isinstance(fields, Mapping):
        return {}
    try:
        items = list(fields.items())
    except Exception:  # a broken Mapping implementation
        return {}
    valid = {key for key, _ in items if isinstance(key, str) and _KEY_RE.fullmatch(key)}
    names: list[str] = []
    taken = set(valid)
    for key, _ in items:
        if isinstance(key, str) and key in valid:
            names.append(key)
            continue
        name = custom_field_key(key)
        n = 1
        while name in taken:
            n += 1
            name = _with_hash(custom_field_key(key), f"{_safe_str(key)}#{n}")
        taken.add(name)
        names.append(name)
    result = {name: json_safe(item) for name, (_, item) in zip(names, items, strict=True)}
    return _trim(result, max_bytes)


def _entry_size(key: str, value: Any) -> int:
    return custom_fields_size({key: value}) - 2  # without the braces


def _dropped_record(dropped: list[str]) -> list[str]:
    if len(dropped) <= MAX_DROPPED_NAMES:
        return list(dropped)
    return [*dropped[:MAX_DROPPED_NAMES], f"+{len(dropped) - MAX_DROPPED_NAMES} more"]


def _trim(fields: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    if custom_fields_size(fields) <= max_bytes:
        return fields
    sizes = {key: _entry_size(key, value) for key, value in fields.items()}
    # A `dropped_fields` of the source's own would be overwritten by ours: it goes first.
    order = sorted(
        (key for key in fields if key != EXTERNAL_ID_KEY),
        key=lambda key: (key != DROPPED_FIELDS_KEY, -sizes[key], key),
    )
    kept = dict(fields)
    kept_bytes = sum(sizes.values())
    dropped: list[str] = []

    def total() -> int:
        members = len(kept) + (1 if dropped else 0)
        record = _entry_size(DROPPED_FIELDS_KEY, _dropped_record(dropped)) if dropped else 0
        return 2 + kept_bytes + record + max(members - 1, 0)

    for key in order:
        if total() <= max_bytes:
            break
        del kept[key]
        kept_bytes -= sizes[key]
        dropped.append(key)
    if dropped:
        kept[DROPPED_FIELDS_KEY] = _dropped_record(dropped)
    if custom_fields_size(kept) > max_bytes and EXTERNAL_ID_KEY in kept:
        kept[EXTERNAL_ID_KEY] = _shrink_to_fit(kept, max_bytes)
    if custom_fields_size(kept) > max_bytes:  # cannot happen with sane limits; stay valid
        return {}
    return kept


def _shrink_to_fit(fields: dict[str, Any], max_bytes: int) -> str:
    """external_id cut short enough that `fields` fits (it is kept, never dropped)."""
    value = fields[EXTERNAL_ID_KEY]
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    trial = dict(fields)
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        trial[EXTERNAL_ID_KEY] = text[:middle]
        if custom_fields_size(trial) <= max_bytes:
            low = middle
        else:
            high = middle - 1
    return text[:low]
