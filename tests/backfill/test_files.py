"""Reading Shopify's order export and JSON lines of orders into REST-shaped orders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backfill.export import COLUMNS, write_export
from workers.backfill_files import OrderFileError, detect_format, read_orders


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "orders_export.csv"
    write_export(path, 3)
    return path


def test_rows_of_one_order_make_one_order_with_every_line_item(export: Path) -> None:
    records = list(read_orders(export))

    assert [(r.row, r.last_row) for r in records] == [(2, 2), (3, 4), (5, 7)]
    assert [len(r.order["line_items"]) for r in records if r.order] == [1, 2, 3]


def test_the_first_row_carries_the_order(export: Path) -> None:
    order = next(read_orders(export)).order
    assert order is not None

    assert order["id"] == "5900000001001"
    assert order["name"] == "#1001"
    assert order["order_number"] == 1001
    assert order["financial_status"] == "pending"
    assert order["currency"] == "SAR"
    assert order["email"] == "customer1001@example.com"
    assert order["created_at"] == "2025-01-01T09:00:00+03:00"
    assert order["note_attributes"] == [{"name": "preferred_contact", "value": "whatsapp"}]
    assert order["tags"] == "backfill, white-friday"


def test_excel_proofed_phones_lose_their_apostrophe(export: Path) -> None:
    order = next(read_orders(export)).order
    assert order is not None

    assert order["billing_address"]["phone"].startswith("+966")
    assert order["billing_address"]["first_name"] == "Mahmoud"
    assert order["billing_address"]["last_name"] == "Ali"


def test_updated_at_is_the_latest_event_of_the_order(export: Path) -> None:
    paid = list(read_orders(export))[1].order
    assert paid is not None

    assert paid["financial_status"] == "paid"
    assert paid["updated_at"] == paid["processed_at"]
    assert paid["updated_at"] > paid["created_at"]


def test_a_csv_without_the_export_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("First Name,Last Name,Email\nNoha,Hassan,noha@example.com\n")

    with pytest.raises(OrderFileError, match="not a Shopify order export"):
        list(read_orders(path))


def test_a_row_without_a_name_is_an_error_of_that_row(tmp_path: Path) -> None:
    path = tmp_path / "orders_export.csv"
    row = dict.fromkeys(COLUMNS, "")
    row["Lineitem name"] = "Musk Tahara 12ml"
    path.write_text(",".join(COLUMNS) + "\n" + ",".join(row[c] for c in COLUMNS) + "\n")

    [record] = read_orders(path)

    assert (record.row, record.order) == (2, None)
    assert record.error is not None


def test_json_lines_hold_orders_bare_or_wrapped(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(
        json.dumps({"id": 1, "name": "#1"})
        + "\n\n"
        + json.dumps({"order": {"id": 2, "name": "#2"}})
        + "\n{not json\n[1]\n"
    )

    records = list(read_orders(path))

    assert [(r.row, r.order) for r in records[:2]] == [
        (1, {"id": 1, "name": "#1"}),
        (3, {"id": 2, "name": "#2"}),
    ]
    assert [(r.row, r.order is None) for r in records[2:]] == [(4, True), (5, True)]
    assert records[2].error is not None
    assert records[2].error.startswith("not JSON")


def test_the_format_comes_from_the_name_or_else_the_content(tmp_path: Path) -> None:
    unnamed = tmp_path / "orders.txt"
    unnamed.write_text('{"id": 1}\n')

    assert detect_format(tmp_path / "x.csv") == "csv"
    assert detect_format(tmp_path / "x.jsonl") == "jsonl"
    assert detect_format(unnamed) == "jsonl"
