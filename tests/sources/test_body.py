from __future__ import annotations

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
