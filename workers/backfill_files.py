"""Order files for `adapter backfill`: Shopify's order export (CSV) and JSON lines of
REST order objects, read as a stream of `OrderRecord`s shaped like the order a
Shopify webhook carries, so that the usual mapping applies.

The CSV export (Shopify admin → Orders → Export) has one row per line item. The rows
of one order follow each other and share its `Name` (#1001); the first one carries
the order's fields (Email, Financial Status, totals, addresses, Id, Tags, Phone ...),
every one its line item (`Lineitem quantity/name/price/sku`). Dates look like
`2026-11-27 21:14:03 +0300`; Excel-proofed values (`'+966501234567`) start with `'`.

Row numbers are what a spreadsheet shows: the header is row 1. In a JSON lines file
they are line numbers.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TextIO

FileFormat = Literal["csv", "jsonl"]

REQUIRED_COLUMNS = ("Name", "Lineitem name")
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M:%S")


class OrderFileError(Exception):
    """The file cannot be read as orders at all (not one bad order: that is a row error)."""


@dataclass(frozen=True)
class OrderRecord:
    """One order of the file: where it starts, and the order (None if unreadable)."""

    row: int
    last_row: int
    order: dict[str, Any] | None
    error: str | None = None


def detect_format(path: Path) -> FileFormat:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with path.open("rb") as f:
        start = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if start.startswith(b"{") else "csv"


def read_orders(path: Path, file_format: FileFormat | None = None) -> Iterator[OrderRecord]:
    """Every order of the file, in file order."""
    kind = file_format or detect_format(path)
    # utf-8-sig: Shopify's export may start with a byte order mark
    with path.open(encoding="utf-8-sig", newline="") as f:
        if kind == "csv":
            yield from _csv_orders(f)
        else:
            yield from _jsonl_orders(f)


# --- JSON lines ----------------------------------------------------------------


def _jsonl_orders(f: TextIO) -> Iterator[OrderRecord]:
    for number, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield OrderRecord(number, number, None, f"not JSON: {exc.msg}")
            continue
        if isinstance(value, dict) and isinstance(value.get("order"), dict):
            value = value["order"]
        if not isinstance(value, dict):
            yield OrderRecord(number, number, None, "not a JSON object")
            continue
        yield OrderRecord(number, number, value)


# --- Shopify's CSV export --------------------------------------------------------


def _csv_orders(f: TextIO) -> Iterator[OrderRecord]:
    reader = csv.DictReader(f)
    columns = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise OrderFileError(
            f"not a Shopify order export: no {', '.join(missing)} column "
            f"(columns: {', '.join(columns[:8]) or 'none'}...)"
        )
    rows: list[dict[str, str]] = []
    first_row = 2
    for index, row in enumerate(reader, start=2):
        if rows and _cell(row, "Name") != _cell(rows[0], "Name"):
            yield _order_record(rows, first_row, index - 1)
            rows, first_row = [], index
        rows.append(row)
    if rows:
        yield _order_record(rows, first_row, first_row + len(rows) - 1)


def _order_record(rows: list[dict[str, str]], first: int, last: int) -> OrderRecord:
    if not _cell(rows[0], "Name"):
        return OrderRecord(first, last, None, "row has no Name (the order's #number)")
    return OrderRecord(first, last, order_from_rows(rows))


def _cell(row: Mapping[str, str | None], column: str) -> str:
    value = row.get(column) or ""
    value = value.strip()
    # Excel-proofing: a leading apostrophe keeps +966... and 00123 as text
    return value[1:] if value.startswith("'") else value


def _opt(row: Mapping[str, str | None], column: str) -> str | None:
    return _cell(row, column) or None


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def _timestamp(value: str | None) -> str | None:
    """ISO 8601, as the REST API writes it; a value that is not a date is kept as is."""
    parsed = _datetime(value)
    return parsed.isoformat() if parsed else value


def _latest(values: list[str | None]) -> str | None:
    """The latest of the export's dates (all carry the shop's offset, or none does)."""
    parsed = [d for d in map(_datetime, values) if d is not None]
    try:
        return max(parsed).isoformat() if parsed else None
    except TypeError:  # offsets on some and not on others: cannot be ordered
        return None


def _names(full: str | None) -> tuple[str | None, str | None]:
    if not full:
        return None, None
    first, _, last = full.partition(" ")
    return first or None, last.strip() or None


def _address(row: Mapping[str, str | None], prefix: str) -> dict[str, Any] | None:
    fields = {
        "name": _opt(row, f"{prefix} Name"),
        "address1": _opt(row, f"{prefix} Address1"),
        "address2": _opt(row, f"{prefix} Address2"),
        "company": _opt(row, f"{prefix} Company"),
        "city": _opt(row, f"{prefix} City"),
        "zip": _opt(row, f"{prefix} Zip"),
        "province_code": _opt(row, f"{prefix} Province"),
        "province": _opt(row, f"{prefix} Province Name"),
        # the export holds the two-letter code here
        "country_code": _opt(row, f"{prefix} Country"),
        "phone": _opt(row, f"{prefix} Phone"),
    }
    if not any(fields.values()):
        return None
    fields["first_name"], fields["last_name"] = _names(fields["name"])
    return fields


def _note_attributes(text: str | None) -> list[dict[str, str]]:
    """`key: value` lines, as the export writes them."""
    attributes = []
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            attributes.append({"name": key.strip(), "value": value.strip()})
    return attributes


def _line_item(row: Mapping[str, str | None]) -> dict[str, Any] | None:
    name = _opt(row, "Lineitem name")
    if name is None:
        return None
    return {
        "name": name,
        "title": name,
        "quantity": _opt(row, "Lineitem quantity"),
        "price": _opt(row, "Lineitem price"),
        "sku": _opt(row, "Lineitem sku"),
        "vendor": _opt(row, "Vendor"),
        "fulfillment_status": _opt(row, "Lineitem fulfillment status"),
    }


_ORDER_NUMBER = re.compile(r"(\d+)")


def order_from_rows(rows: list[dict[str, str]]) -> dict[str, Any]:
    """The REST-shaped order of one order's export rows (the first row has its fields)."""
    head = rows[0]
    name = _cell(head, "Name")
    number = _ORDER_NUMBER.search(name)
    currency = _opt(head, "Currency")
    financial = _opt(head, "Financial Status")
    fulfillment = _opt(head, "Fulfillment Status")
    created = _timestamp(_opt(head, "Created at"))
    events = [_opt(head, c) for c in ("Created at", "Paid at", "Fulfilled at", "Cancelled at")]
    order: dict[str, Any] = {
        "id": _opt(head, "Id"),
        "name": name,
        "order_number": int(number.group(1)) if number else None,
        "email": _opt(head, "Email"),
        "phone": _opt(head, "Phone"),
        "financial_status": financial.lower() if financial else None,
        "fulfillment_status": fulfillment.lower() if fulfillment else None,
        "currency": currency,
        "subtotal_price": _opt(head, "Subtotal"),
        "total_tax": _opt(head, "Taxes"),
        "total_price": _opt(head, "Total"),
        "total_discounts": _opt(head, "Discount Amount"),
        "created_at": created,
        "processed_at": _timestamp(_opt(head, "Paid at")),
        "cancelled_at": _timestamp(_opt(head, "Cancelled at")),
        # the export has no updated_at: the latest thing that happened to the order
        "updated_at": _latest(events) or created,
        "tags": _opt(head, "Tags"),
        "note": _opt(head, "Notes"),
        "note_attributes": _note_attributes(_opt(head, "Note Attributes")),
        "payment_gateway_names": [
            part.strip() for part in (_cell(head, "Payment Method")).split("+") if part.strip()
        ],
        "source_name": _opt(head, "Source"),
        "buyer_accepts_marketing": _cell(head, "Accepts Marketing").lower() == "yes",
        "billing_address": _address(head, "Billing"),
        "shipping_address": _address(head, "Shipping"),
        "line_items": [item for row in rows if (item := _line_item(row)) is not None],
    }
    shipping = _opt(head, "Shipping")
    if shipping is not None:
        order["total_shipping_price_set"] = {
            "shop_money": {"amount": shipping, "currency_code": currency}
        }
    code = _opt(head, "Discount Code")
    if code is not None:
        order["discount_codes"] = [{"code": code, "amount": _opt(head, "Discount Amount")}]
    refunded = _opt(head, "Refunded Amount")
    if refunded is not None and refunded.strip("0.") != "":
        order["refunds"] = [
            {"transactions": [{"kind": "refund", "status": "success", "amount": refunded}]}
        ]
    return order
