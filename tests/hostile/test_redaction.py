"""Regressions the hostile suite found in log redaction."""

from __future__ import annotations

import pytest

from adapter.logs import Redactor


@pytest.mark.parametrize(
    "line",
    [
        '"POST /webhooks/forms/x?phone=%2B201017177777 HTTP/1.1" 404',
        '"POST /webhooks/forms/%2B201017177777 HTTP/1.1" 404',
        '"POST /webhooks/forms/%2b201017177777 HTTP/1.1" 404',
    ],
)
def test_a_url_encoded_international_phone_is_masked(line: str) -> None:
    masked = Redactor()(line)
    assert "1017177777" not in masked
    assert "%2B20******77" in masked
