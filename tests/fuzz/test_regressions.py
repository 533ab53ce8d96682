"""Regressions the fuzz suite found, pinned as plain examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapter.sources import stripe
from adapter.sources.errors import InvalidPayload


def test_a_stripe_event_id_with_a_lone_surrogate_is_invalid_not_a_crash() -> None:
    # json.loads turns the escape "\ud800" into a str that cannot be encoded: keying it
    # for dedupe raised UnicodeEncodeError, and the endpoint answered 500
    payload = {"id": "evt_\ud800", "type": "customer.created"}
    with pytest.raises(InvalidPayload):
        stripe.identify(b"", payload, {}, datetime.now(UTC))
