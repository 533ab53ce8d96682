from __future__ import annotations

import json

import pytest

from adapter.sources.body import parse_json_object
from adapter.sources.errors import InvalidPayload


def test_json_object_parses() -> None:
    assert parse_json_object('{"tags": "Überraschung"}'.encode()) == {"tags": "Überraschung"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"\xff{}",
        '{"a": 1}'.encode("utf-16"),
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e400}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"n": ' + b"9" * 5000 + b"}",
    ],
    ids=[
        "empty",
        "truncated",
        "bad-utf8",
        "utf16",
        "nan",
        "infinity",
        "overflow",
        "deep",
        "huge-int",
    ],
)
def test_not_json_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        parse_json_object(body)


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"1", b"null", b"true"])
def test_json_that_is_not_an_object_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidPayload, match="not a JSON object"):
        parse_json_object(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 12345678901234567890123, "n": -9223372036854775809}',
        b'{"u": 18446744073709551616}',
        b'{"note": "\\ud800"}',
        b'{"x": 0.1, "y": 1e-400, "z": -0.0, "big": 1.7976931348623157e308}',
        b'{"a": {"b": [1, 2.5, "c", null, true, false]}}',
        b'  {"padded": 1}\n',
        b'{"a": 1, "a": 2}',
    ],
    ids=[
        "long-ints",
        "past-uint64",
        "lone-surrogate",
        "floats",
        "nested",
        "padded",
        "repeated-key",
    ],
)
def test_an_object_parses_as_json_loads_reads_it(body: bytes) -> None:
    expected = json.loads(body)
    parsed = parse_json_object(body)
    assert parsed == expected
    assert repr(parsed) == repr(expected)


def test_nesting_json_reads_is_accepted_and_deeper_is_invalid() -> None:
    assert parse_json_object(b'{"a": ' + b"[" * 500 + b"]" * 500 + b"}") == json.loads(
        b'{"a": ' + b"[" * 500 + b"]" * 500 + b"}"
    )
    with pytest.raises(InvalidPayload):
        parse_json_object(b'{"a": ' + b"[" * 1010 + b"]" * 1010 + b"}")
