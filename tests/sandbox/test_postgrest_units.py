"""The PostgREST pieces on their own: array literals, in-lists, jsonb semantics."""

from __future__ import annotations

from typing import Any

import pytest

from crm_sandbox.errors import PostgrestError
from crm_sandbox.postgrest import jsonb
from crm_sandbox.postgrest.grammar import parse_filter, parse_order, parse_select
from crm_sandbox.postgrest.literals import read_array


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("{}", []),
        (" { } ", []),
        ("{a,b}", ["a", "b"]),
        ("{ a , b }", ["a", "b"]),
        ('{"a b","c,d"}', ["a b", "c,d"]),
        ('{"say \\"hi\\""}', ['say "hi"']),
        ("{a\\,b}", ["a,b"]),
        ('{NULL,null,"NULL"}', [None, None, "NULL"]),
        ('{"+201017177777"}', ["+201017177777"]),
    ],
)
def test_array_literal_reads_as_postgresql(text: str, items: list[str | None]) -> None:
    assert read_array(text) == items


@pytest.mark.parametrize("text", ["", "a", "{a", "{a}b", "{a,,b}", "{,}", '{"a}', '{a"b}', "{{a}}"])
def test_malformed_array_literal_is_22p02(text: str) -> None:
    with pytest.raises(PostgrestError) as raised:
        read_array(text)
    assert raised.value.code == "22P02"
    assert raised.value.message == f'malformed array literal: "{text}"'


def test_in_list_honours_quotes_and_escapes() -> None:
    f = parse_filter("title", 'in.(a,"b,c","d\\"e",)')
    assert f.items == ("a", "b,c", 'd"e', "")


def test_filter_keeps_dots_in_the_operand() -> None:
    f = parse_filter("custom_fields->>site", "eq.shop.example.com")
    assert (f.field.column, f.field.steps[0].key, f.operand) == (
        "custom_fields",
        "site",
        "shop.example.com",
    )


def test_negated_filter_reads_not_prefix() -> None:
    f = parse_filter("stage", "not.in.(won,lost)")
    assert (f.negated, f.operator, f.items) == (True, "in", ("won", "lost"))


def test_select_reads_aliases_and_json_paths() -> None:
    items = parse_select("id, ext:custom_fields->>external_id,custom_fields->a->b", "deals")
    assert [(i.alias, i.field and i.field.output_name) for i in items] == [
        (None, "id"),
        ("ext", "external_id"),
        (None, "b"),
    ]


def test_order_defaults_nulls_to_postgresql_placement() -> None:
    up, down = parse_order("title,created_at.desc")
    assert (up.descending, up.nulls_first) == (False, False)
    assert (down.descending, down.nulls_first) == (True, True)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"a": 1, "b": {"c": 2}}, {"b": {"c": 2}}, True),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": [1, 2, 3]}, {"a": [3, 1]}, True),
        ({"a": [1, 2]}, {"a": 1}, False),
        (["a", "b"], "a", True),
        (["a", ["b"]], [["b"]], True),
        ({"a": None}, {"a": None}, True),
        ({}, {"a": None}, False),
        ("a", ["a"], False),
    ],
)
def test_jsonb_containment(a: Any, b: Any, expected: bool) -> None:
    assert jsonb.contains(a, b) is expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("VIP", "VIP"),
        (1200, "1200"),
        (1200.5, "1200.5"),
        (True, "true"),
        (None, None),
        (jsonb.JSON_NULL, None),
        ({"zip": "1", "city": "Cairo"}, '{"zip": "1", "city": "Cairo"}'),
        ([1, "a"], '[1, "a"]'),
    ],
)
def test_arrow_text_renders_as_postgresql(value: Any, text: str | None) -> None:
    assert jsonb.to_text(value) == text


def test_jsonb_order_puts_types_in_postgresql_order() -> None:
    values: list[Any] = [{"a": 1}, [1], True, 2, "s", jsonb.JSON_NULL]
    assert sorted(values, key=jsonb.sort_key) == [jsonb.JSON_NULL, "s", 2, True, [1], {"a": 1}]
