"""PostgREST's logic trees: `or=(a.eq.1,and(b.gt.2,c.is.null))` and their negations."""

from __future__ import annotations

from dataclasses import dataclass

from crm_sandbox.errors import PostgrestError, parse_error
from crm_sandbox.postgrest.grammar import (
    IS_VALUES,
    OPERATOR_EXPECTED,
    OPERATORS,
    Filter,
    parse_in_list,
    read_field,
    read_quoted,
    unexpected,
)


@dataclass(frozen=True)
class Logic:
    operator: str  # "and" or "or"
    negated: bool
    children: tuple[Filter | Logic, ...]


LOGIC_PARAMS = frozenset({"or", "and", "not.or", "not.and"})


def parse_logic(key: str, value: str) -> Logic:
    negated = key.startswith("not.")
    tree, end = _logic_body(value, 0, key.removeprefix("not."), negated)
    if end != len(value):
        raise _logic_error(value, end, f"{unexpected(value, end)} expecting end of input")
    return tree


def _logic_error(text: str, i: int, details: str) -> PostgrestError:
    return parse_error("logic tree", text, i + 1, details)


def _logic_body(text: str, i: int, operator: str, negated: bool) -> tuple[Logic, int]:
    if not text.startswith("(", i):
        raise _logic_error(text, i, f'{unexpected(text, i)} expecting "("')
    i += 1
    children: list[Filter | Logic] = []
    while True:
        child, i = _logic_item(text, i)
        children.append(child)
        if text.startswith(",", i):
            i += 1
        elif text.startswith(")", i):
            return Logic(operator, negated, tuple(children)), i + 1
        else:
            raise _logic_error(text, i, f'{unexpected(text, i)} expecting "," or ")"')


def _logic_item(text: str, i: int) -> tuple[Filter | Logic, int]:
    negated = text.startswith("not.", i)
    j = i + 4 if negated else i
    for word in ("or", "and"):
        if text.startswith(word + "(", j):
            return _logic_body(text, j + len(word), word, negated)
    found = read_field(text, i)
    if found is None or not text.startswith(".", found[1]):
        at = found[1] if found else i
        raise _logic_error(text, at, f'{unexpected(text, at)} expecting field name and "."')
    field, i = found[0], found[1] + 1
    negated = text.startswith("not.", i)
    i += 4 if negated else 0
    dot = text.find(".", i)
    operator = text[i:dot] if dot >= 0 else ""
    if operator not in OPERATORS:
        raise _logic_error(text, i, f"{unexpected(text, i)} {OPERATOR_EXPECTED}")
    i = dot + 1
    if operator == "in":
        close = _closing(text, i, "(", ")")
        return Filter(
            field, negated, operator, text[i:close], parse_in_list(text[:close], i)
        ), close
    operand, i = _logic_value(text, i)
    if operator == "is" and operand.lower() not in IS_VALUES:
        raise _logic_error(text, i, "expecting null or trilean value (unknown, true, false)")
    return Filter(field, negated, operator, operand), i


def _closing(text: str, i: int, opening: str, closing: str) -> int:
    """The index just past the `closing` that ends the group opened at i, quotes honoured."""
    if not text.startswith(opening, i):
        raise _logic_error(text, i, f'{unexpected(text, i)} expecting "{opening}"')
    quoted = False
    for j in range(i + 1, len(text)):
        if text[j] == "\\":
            continue
        if text[j] == '"' and text[j - 1] != "\\":
            quoted = not quoted
        elif text[j] == closing and not quoted:
            return j + 1
    raise _logic_error(text, len(text), f'unexpected end of input expecting "{closing}"')


def _logic_value(text: str, i: int) -> tuple[str, int]:
    if text.startswith('"', i):
        return read_quoted(text, i)
    if text.startswith("{", i):
        end = _closing(text, i, "{", "}")
        return text[i:end], end
    j = i
    while j < len(text) and text[j] not in ",)":
        j += 1
    return text[i:j], j
