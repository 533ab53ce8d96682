"""Filters compiled against a table, with SQL's NULL logic.

A predicate answers True, False or None (SQL's unknown); only True keeps a row, and
`not.` leaves unknown unknown, as PostgreSQL does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from operator import eq, ge, gt, le, lt, ne
from typing import Any

from crm_sandbox.errors import PostgrestError, undefined_column, undefined_operator
from crm_sandbox.postgrest import jsonb, literals
from crm_sandbox.postgrest.grammar import FieldPath, Filter
from crm_sandbox.postgrest.logic import Logic
from crm_sandbox.schema import ColumnType, Row, Table

Predicate = Callable[[Row], bool | None]
Test = Callable[[Any], bool | None]

_SYMBOLS = {
    "eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
    "like": "~~", "ilike": "~~*", "match": "~", "imatch": "~*",
    "cs": "@>", "cd": "<@", "ov": "&&", "in": "=", "isdistinct": "IS DISTINCT FROM",
}  # fmt: skip
_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "eq": eq,
    "neq": ne,
    "gt": gt,
    "gte": ge,
    "lt": lt,
    "lte": le,
}
_INDEX = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Resolved:
    """What a field path yields: its type and how to read it from a row (None is NULL)."""

    type: ColumnType
    get: Callable[[Row], Any]


def resolve(table: Table, field: FieldPath) -> Resolved:
    column_type = table.column(field.column)
    if column_type is None:
        raise undefined_column(table.name, field.column)
    column = field.column
    if not field.steps:
        return Resolved(column_type, lambda row: row.get(column))
    if column_type is not ColumnType.JSONB:
        raise undefined_operator(column_type.value, field.steps[0].arrow)
    steps = field.steps

    def get(row: Row) -> Any:
        value = row.get(column)
        for step in steps:
            value = _step(value, step.key)
        return jsonb.to_text(value) if field.yields_text else value

    return Resolved(ColumnType.TEXT if field.yields_text else ColumnType.JSONB, get)


def _step(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key not in value:
            return None
        found = value[key]
    elif isinstance(value, list) and _INDEX.fullmatch(key):
        index = int(key)
        if not -len(value) <= index < len(value):
            return None
        found = value[index]
    else:
        return None
    return jsonb.JSON_NULL if found is None else found


# --- filters ---------------------------------------------------------------


def compile_filter(table: Table, f: Filter) -> Predicate:
    resolved = resolve(table, f.field)
    get = resolved.get
    if f.operator == "is":
        test = _is_test(resolved.type, f.operand.lower())

        def is_predicate(row: Row) -> bool | None:
            result = test(get(row))
            return None if result is None else (not result if f.negated else result)

        return is_predicate
    if f.operator == "isdistinct":
        equal = _value_test(table, f, resolved.type, "eq")

        def distinct(row: Row) -> bool | None:
            value = get(row)
            result = True if value is None else not equal(value)
            return not result if f.negated else result

        return distinct
    test = _value_test(table, f, resolved.type, f.operator)

    def predicate(row: Row) -> bool | None:
        value = get(row)
        if value is None:
            return None
        result = test(value)
        if result is None or not f.negated:
            return result
        return not result

    return predicate


def compile_logic(table: Table, tree: Logic) -> Predicate:
    """`or=(...)` and `and=(...)`, with SQL's three-valued AND and OR."""
    children = [
        compile_logic(table, c) if isinstance(c, Logic) else compile_filter(table, c)
        for c in tree.children
    ]
    decisive = tree.operator == "or"  # True decides an OR, False decides an AND

    def predicate(row: Row) -> bool | None:
        result: bool | None = not decisive
        for child in children:
            value = child(row)
            if value is decisive:
                result = decisive
                break
            if value is None:
                result = None
        if result is None or not tree.negated:
            return result
        return not result

    return predicate


def _is_test(column_type: ColumnType, word: str) -> Test:
    if word == "null":
        return lambda value: value is None
    if column_type is not ColumnType.BOOLEAN:
        raise PostgrestError(
            400,
            "42804",
            f"argument of IS {word.upper()} must be type boolean, not type {column_type.value}",
        )
    if word == "unknown":
        return lambda value: value is None
    wanted = word == "true"
    return lambda value: value is wanted


def _value_test(table: Table, f: Filter, column_type: ColumnType, operator: str) -> Test:
    if column_type is ColumnType.TEXT:
        return _text_test(f, operator)
    if column_type is ColumnType.TEXT_ARRAY:
        return _array_test(f, operator)
    if column_type is ColumnType.JSONB:
        return _jsonb_test(f, operator)
    return _scalar_test(f, operator, column_type)


def _refuse(column_type: ColumnType, operator: str) -> PostgrestError:
    return undefined_operator(column_type.value, _SYMBOLS[operator])


def _text_test(f: Filter, operator: str) -> Test:
    if operator in _ORDERED:
        compare, operand = _ORDERED[operator], f.operand
        return lambda value: compare(value, operand)
    if operator == "in":
        members = frozenset(f.items)
        return lambda value: value in members
    if operator in ("like", "ilike"):
        pattern = like_pattern(f.operand, operator == "ilike")
        return lambda value: pattern.fullmatch(value) is not None
    if operator in ("match", "imatch"):
        regex = _regex(f.operand, operator == "imatch")
        return lambda value: regex.search(value) is not None
    raise _refuse(ColumnType.TEXT, operator)


def like_pattern(operand: str, insensitive: bool) -> re.Pattern[str]:
    """SQL LIKE as a regex; PostgREST lets `*` stand for `%` so URLs need no escaping."""
    out: list[str] = []
    chars = iter(operand)
    for c in chars:
        if c in "*%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif c == "\\":
            out.append(re.escape(next(chars, "\\")))
        else:
            out.append(re.escape(c))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if insensitive else 0))


def _regex(operand: str, insensitive: bool) -> re.Pattern[str]:
    try:
        return re.compile(operand, re.IGNORECASE if insensitive else 0)
    except re.error as exc:
        raise PostgrestError(400, "2201B", f"invalid regular expression: {exc}") from None


_READERS: dict[ColumnType, Callable[[str], Any]] = {
    ColumnType.UUID: literals.read_uuid,
    ColumnType.NUMERIC: literals.read_numeric,
    ColumnType.BOOLEAN: literals.read_boolean,
    ColumnType.DATE: literals.read_date,
    ColumnType.TIMESTAMPTZ: literals.read_timestamp,
}


def comparable(column_type: ColumnType, value: Any) -> Any:
    """A stored scalar in the comparable form its reader gives a literal."""
    if column_type is ColumnType.NUMERIC:
        return jsonb.number(value)
    if column_type is ColumnType.DATE:
        return date.fromisoformat(value)
    if column_type is ColumnType.TIMESTAMPTZ:
        return literals.read_timestamp(value)
    return value


def _scalar_test(f: Filter, operator: str, column_type: ColumnType) -> Test:
    read = _READERS[column_type]
    if operator in _ORDERED:
        compare, operand = _ORDERED[operator], read(f.operand)
        return lambda value: compare(comparable(column_type, value), operand)
    if operator == "in":
        members = [read(item) for item in f.items]
        return lambda value: comparable(column_type, value) in members
    raise _refuse(column_type, operator)


def _array_literal(f: Filter, text: str) -> list[str | None]:
    if f.field.column == "phones":
        literals.check_phone_literal(text)
    return literals.read_array(text)


def array_key(items: Sequence[str | None]) -> tuple[tuple[Any, ...], ...]:
    return tuple((1,) if item is None else (0, item) for item in items)


def _array_test(f: Filter, operator: str) -> Test:
    if operator in _ORDERED:
        compare, operand = _ORDERED[operator], array_key(_array_literal(f, f.operand))
        return lambda value: compare(array_key(value), operand)
    if operator == "in":
        members = [array_key(_array_literal(f, item)) for item in f.items]
        return lambda value: array_key(value) in members
    if operator in ("cs", "cd", "ov"):
        wanted = _array_literal(f, f.operand)
        # NULL elements never match anything, not even another NULL.
        if operator == "cs":
            return lambda value: all(w is not None and w in value for w in wanted)
        if operator == "cd":
            return lambda value: all(v is not None and v in wanted for v in value)
        return lambda value: any(w is not None and w in value for w in wanted)
    raise _refuse(ColumnType.TEXT_ARRAY, operator)


def _json_literal(text: str) -> Any:
    try:
        return jsonb.parse_literal(text)
    except ValueError:
        token = text.strip().split(None, 1)[0] if text.strip() else text
        raise PostgrestError(
            400, "22P02", "invalid input syntax for type json", f'Token "{token}" is invalid.'
        ) from None


def _jsonb_test(f: Filter, operator: str) -> Test:
    if operator in ("eq", "neq"):
        operand = _json_literal(f.operand)
        wanted = operator == "eq"
        return lambda value: jsonb.equal(value, operand) is wanted
    if operator in _ORDERED:
        compare, key = _ORDERED[operator], jsonb.sort_key(_json_literal(f.operand))
        return lambda value: compare(jsonb.sort_key(value), key)
    if operator == "in":
        members = [_json_literal(item) for item in f.items]
        return lambda value: any(jsonb.equal(value, m) for m in members)
    if operator == "cs":
        operand = _json_literal(f.operand)
        return lambda value: jsonb.contains(value, operand)
    if operator == "cd":
        operand = _json_literal(f.operand)
        return lambda value: jsonb.contains(operand, value)
    raise _refuse(ColumnType.JSONB, operator)
