"""`select` and `order` compiled against a table."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from crm_sandbox.postgrest import jsonb
from crm_sandbox.postgrest.evaluate import array_key, comparable, resolve
from crm_sandbox.postgrest.grammar import OrderTerm, SelectItem
from crm_sandbox.schema import ColumnType, Record, Row, Table

Projection = Callable[[Row], dict[str, Any]]


def compile_select(table: Table, items: Sequence[SelectItem]) -> Projection:
    getters: list[tuple[str, Callable[[Row], Any]]] = []
    for item in items:
        if item.field is None:
            getters.extend((name, _column_getter(name)) for name in table.columns)
            continue
        resolved = resolve(table, item.field)
        getters.append((item.alias or item.field.output_name, _output(resolved.get)))

    def project(row: Row) -> dict[str, Any]:
        return {name: get(row) for name, get in getters}

    return project


def _column_getter(name: str) -> Callable[[Row], Any]:
    return lambda row: row.get(name)


def _output(get: Callable[[Row], Any]) -> Callable[[Row], Any]:
    def value(row: Row) -> Any:
        found = get(row)
        return None if found is jsonb.JSON_NULL else found

    return value


def _sort_value(column_type: ColumnType, value: Any) -> Any:
    if column_type is ColumnType.TEXT_ARRAY:
        return array_key(value)
    if column_type is ColumnType.JSONB:
        return jsonb.sort_key(value)
    return comparable(column_type, value)


Sorter = Callable[[list[Record]], list[Record]]


def compile_order(table: Table, terms: Sequence[OrderTerm]) -> Sorter:
    resolved = [(resolve(table, term.field), term) for term in terms]
    first_descending = bool(terms) and terms[0].descending

    def compare(a: Record, b: Record) -> int:
        for field, term in resolved:
            x, y = field.get(a.row), field.get(b.row)
            if x is None and y is None:
                continue
            if x is None or y is None:
                null_first = term.nulls_first
                return (-1 if null_first else 1) if x is None else (1 if null_first else -1)
            kx, ky = _sort_value(field.type, x), _sort_value(field.type, y)
            if kx != ky:
                result = -1 if kx < ky else 1
                return -result if term.descending else result
        tie = (a.seq > b.seq) - (a.seq < b.seq)
        return -tie if first_descending else tie

    def sort(records: list[Record]) -> list[Record]:
        return sorted(records, key=functools.cmp_to_key(compare))

    return sort
