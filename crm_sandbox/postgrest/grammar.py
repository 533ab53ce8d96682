"""PostgREST's query-string grammar: field paths, filters, select, order, limit and offset."""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm_sandbox.errors import PostgrestError, parse_error

RESERVED_PARAMS = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict"})
OPERATORS = frozenset(
    {
        "eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch",
        "in", "is", "isdistinct", "cs", "cd", "ov",
    }
)  # fmt: skip
IS_VALUES = frozenset({"null", "true", "false", "unknown"})
OPERATOR_EXPECTED = 'expecting "not" or operator (eq, gt, ...)'


@dataclass(frozen=True)
class JsonStep:
    arrow: str  # "->" keeps jsonb, "->>" yields text
    key: str


@dataclass(frozen=True)
class FieldPath:
    column: str
    steps: tuple[JsonStep, ...] = ()

    @property
    def output_name(self) -> str:
        return self.steps[-1].key if self.steps else self.column

    @property
    def yields_text(self) -> bool:
        return bool(self.steps) and self.steps[-1].arrow == "->>"


@dataclass(frozen=True)
class Filter:
    field: FieldPath
    negated: bool
    operator: str
    operand: str
    items: tuple[str, ...] = ()  # the members of an `in.(...)` list


@dataclass(frozen=True)
class SelectItem:
    field: FieldPath | None  # None stands for `*`
    alias: str | None = None


@dataclass(frozen=True)
class OrderTerm:
    field: FieldPath
    descending: bool
    nulls_first: bool


def _is_name_char(text: str, i: int) -> bool:
    c = text[i]
    if c == "-":
        return not text.startswith("->", i)
    return c.isalnum() or c in "_$ "


def _read_name(text: str, i: int) -> tuple[str, int] | None:
    if i < len(text) and text[i] == '"':
        end = text.find('"', i + 1)
        if end < 0:
            return None
        return text[i + 1 : end], end + 1
    start = i
    while i < len(text) and _is_name_char(text, i):
        i += 1
    if i == start:
        return None
    return text[start:i].strip(), i


def read_field(text: str, i: int = 0) -> tuple[FieldPath, int] | None:
    """A column with an optional JSON path, from position i; None if there is none."""
    name = _read_name(text, i)
    if name is None or not name[0]:
        return None
    column, i = name
    steps: list[JsonStep] = []
    while text.startswith("->", i):
        arrow = "->>" if text.startswith("->>", i) else "->"
        key = _read_name(text, i + len(arrow))
        if key is None:
            return None
        steps.append(JsonStep(arrow, key[0]))
        i = key[1]
    return FieldPath(column, tuple(steps)), i


def unexpected(text: str, i: int) -> str:
    return f'unexpected "{text[i]}"' if i < len(text) else "unexpected end of input"


def parse_filter(key: str, value: str) -> Filter:
    field = read_field(key)
    if field is None or field[1] != len(key):
        at = field[1] if field else 0
        raise parse_error("filter", key, at + 1, f"{unexpected(key, at)} {OPERATOR_EXPECTED}")
    negated = value.startswith("not.")
    start = 4 if negated else 0
    dot = value.find(".", start)
    operator = value[start:dot] if dot >= 0 else value[start:]
    if operator not in OPERATORS:
        raise parse_error(
            "filter", value, start + 1, f"{unexpected(value, start)} {OPERATOR_EXPECTED}"
        )
    if dot < 0:
        end = start + len(operator)
        raise parse_error("filter", value, end + 1, f'{unexpected(value, end)} expecting "."')
    operand = value[dot + 1 :]
    if operator == "in":
        return Filter(field[0], negated, operator, operand, parse_in_list(value, dot + 1))
    if operator == "is" and operand.lower() not in IS_VALUES:
        raise parse_error(
            "filter",
            value,
            dot + 2,
            f"{unexpected(value, dot + 1)} expecting null or trilean value (unknown, true, false)",
        )
    return Filter(field[0], negated, operator, operand)


def parse_in_list(value: str, i: int) -> tuple[str, ...]:
    if not value.startswith("(", i):
        raise parse_error("filter", value, i + 1, f'{unexpected(value, i)} expecting "("')
    items: list[str] = []
    i += 1
    if value.startswith(")", i) and i + 1 == len(value):
        return ()
    while True:
        if value.startswith('"', i):
            item, i = read_quoted(value, i)
        else:
            start = i
            while i < len(value) and value[i] not in ",)":
                i += 1
            item = value[start:i]
        items.append(item)
        if i >= len(value):
            raise parse_error(
                "filter", value, i + 1, 'unexpected end of input expecting "," or ")"'
            )
        if value[i] == ")":
            if i + 1 != len(value):
                raise parse_error(
                    "filter", value, i + 2, f"{unexpected(value, i + 1)} expecting end of input"
                )
            return tuple(items)
        i += 1  # the comma


def scan_quoted(text: str, i: int) -> tuple[str, int] | None:
    """The double-quoted string opening at `text[i]` (backslash escapes) and the index
    after its closing quote; None when the text ends before the closing quote."""
    out: list[str] = []
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    return None


def read_quoted(text: str, i: int) -> tuple[str, int]:
    scanned = scan_quoted(text, i)
    if scanned is None:
        raise parse_error("filter", text, len(text) + 1, 'unexpected end of input expecting "\\""')
    return scanned


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or double quotes."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0 and c == ",":
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


_ALIAS = re.compile(r"^([A-Za-z0-9_$ ]+):(?!:)(.*)$", re.DOTALL)


def parse_select(text: str, table: str) -> list[SelectItem]:
    items: list[SelectItem] = []
    for part in split_top_level(text):
        item, alias = part.strip(), None
        if item == "*":
            items.append(SelectItem(None))
            continue
        aliased = _ALIAS.match(item)
        if aliased:
            alias, item = aliased.group(1).strip(), aliased.group(2).strip()
        if "(" in item:
            name = item.split("(", 1)[0].split("!", 1)[0]
            raise PostgrestError(
                400,
                "PGRST200",
                f"Could not find a relationship between '{table}' and '{name}' in the schema cache",
                hint="The sandbox does not embed related resources.",
            )
        field = read_field(item)
        if field is None or field[1] != len(item):
            at = field[1] if field else 0
            detail = unexpected(item, at)
            if item.startswith("::", at):
                detail = "casts are not supported by the sandbox"
            raise parse_error("select parameter", text, text.find(item) + at + 1, detail)
        items.append(SelectItem(field[0], alias))
    return items


def parse_order(text: str) -> list[OrderTerm]:
    return [_order_term(text, part.strip()) for part in text.split(",")]


def _order_term(text: str, term: str) -> OrderTerm:
    field = read_field(term)
    if field is None:
        raise parse_error("order", text, 1, f"{unexpected(term, 0)} expecting field name")
    rest = term[field[1] :]
    if rest and not rest.startswith("."):
        raise parse_error("order", text, text.find(term) + field[1] + 1, unexpected(term, field[1]))
    modifiers = rest.split(".")[1:]
    descending, nulls_first = False, None
    for i, modifier in enumerate(modifiers):
        if i == 0 and modifier in ("asc", "desc"):
            descending = modifier == "desc"
        elif i == len(modifiers) - 1 and modifier in ("nullsfirst", "nullslast"):
            nulls_first = modifier == "nullsfirst"
        else:
            raise parse_error(
                "order",
                text,
                text.find(term) + 1,
                f'unexpected "{modifier}" expecting "asc", "desc", "nullsfirst" or "nullslast"',
            )
    # PostgreSQL puts nulls last going up and first going down unless told otherwise.
    return OrderTerm(field[0], descending, descending if nulls_first is None else nulls_first)


def parse_count(name: str, text: str) -> int:
    if not text.isdigit() or not text.isascii():
        at = next((i for i, c in enumerate(text) if not (c.isascii() and c.isdigit())), len(text))
        raise parse_error(
            f"{name} parameter", text, at + 1, f"{unexpected(text, at)} expecting digit"
        )
    return int(text)
