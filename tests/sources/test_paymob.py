"""Paymob's callback HMAC, checked against Paymob's documented example and an oracle."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapter.sources import paymob
from adapter.sources.errors import InvalidPayload, VerificationError

SAMPLE = Path(paymob.__file__).parents[1] / "samples/paymob_transaction.json"
SECRET = b"paymob-hmac-current"
OLD_SECRET = b"paymob-hmac-previous"

# developers.paymob.com, "HMAC Transaction Callback", step 2: the concatenation of its
# sample transaction processed callback, whose values the repo's sample reuses
DOCUMENTED_STRING = (
    "1000002024-06-13T11:33:44.592345EGPfalsefalse1920364654097558truefalsefalsefalse"
    "truefalse217503754302852false2346MasterCardcardtrue"
)


def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def oracle(payload: dict[str, Any], secret: bytes) -> bytes:
    """Paymob's steps, spelled out: each documented key's value, booleans lowercase."""
    obj = payload["obj"]
    source = obj["source_data"]

    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    values = [
        obj["amount_cents"], obj["created_at"], obj["currency"], obj["error_occured"],
        obj["has_parent_transaction"], obj["id"], obj["integration_id"], obj["is_3d_secure"],
        obj["is_auth"], obj["is_capture"], obj["is_refunded"], obj["is_standalone_payment"],
        obj["is_voided"], obj["order"]["id"], obj["owner"], obj["pending"], source["pan"],
        source["sub_type"], source["type"], obj["success"],
    ]  # fmt: skip
    message = "".join(text(v) for v in values).encode()
    return hmac.new(secret, message, hashlib.sha512).hexdigest().encode()


def test_concatenation_matches_paymobs_documented_example() -> None:
    assert paymob.signed_string(sample()) == DOCUMENTED_STRING


def test_documented_fields_are_in_lexicographic_order() -> None:
    assert list(paymob.TRANSACTION_FIELDS) == sorted(paymob.TRANSACTION_FIELDS)
    assert len(paymob.TRANSACTION_FIELDS) == 20


def test_valid_hmac_verifies() -> None:
    payload = sample()
    paymob.verify(payload, oracle(payload, SECRET), [SECRET])


def test_uppercase_hmac_parameter_is_accepted() -> None:
    payload = sample()
    offered = paymob.offered_hmac({"hmac": oracle(payload, SECRET).decode().upper()})
    paymob.verify(payload, offered, [SECRET])


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("amount_cents",), 1),
        (("success",), False),
        (("pending",), True),
        (("is_refunded",), True),
        (("order", "id"), 1),
        (("source_data", "pan"), "0000"),
    ],
)
def test_tampered_signed_field_is_refused(path: tuple[str, ...], value: Any) -> None:
    payload = sample()
    offered = oracle(payload, SECRET)
    target = payload["obj"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(VerificationError):
        paymob.verify(payload, offered, [SECRET])


def test_wrong_secret_is_refused() -> None:
    payload = sample()
    with pytest.raises(VerificationError):
        paymob.verify(payload, oracle(payload, b"someone-else"), [SECRET])


@pytest.mark.parametrize("signed_with", [SECRET, OLD_SECRET])
def test_either_rotated_secret_verifies(signed_with: bytes) -> None:
    payload = sample()
    paymob.verify(payload, oracle(payload, signed_with), [SECRET, OLD_SECRET])


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"hmac": ""},
        {"hmac": "   "},
        {"hmac": "ab" * 63},
        {"hmac": "zz" * 64},
        {"hmac": "é" * 128},
    ],
    ids=["missing", "empty", "blank", "short", "not-hex", "non-ascii"],
)
def test_missing_or_malformed_hmac_is_a_verification_error(query: dict[str, str]) -> None:
    with pytest.raises(VerificationError):
        paymob.offered_hmac(query)


@pytest.mark.parametrize(
    "payload",
    [{}, {"type": "TRANSACTION"}, {"type": "TRANSACTION", "obj": []}, {"type": "OTHER", "obj": {}}],
)
def test_callback_of_no_known_shape_is_a_verification_error(payload: dict[str, Any]) -> None:
    with pytest.raises(VerificationError):
        paymob.verify(payload, b"0" * 128, [SECRET])


def test_null_and_missing_values_count_as_empty() -> None:
    payload = sample()
    payload["obj"]["source_data"] = {"pan": None, "type": "wallet"}
    assert paymob.signed_string(payload).endswith("falsewallettrue")


def test_token_callback_is_verified_over_its_own_fields() -> None:
    obj = {
        "id": 1, "token": "tok", "masked_pan": "xxxx-2346", "merchant_id": 302852,
        "card_subtype": "MasterCard", "created_at": "2024-06-13T11:33:44", "email": "a@b.eg",
        "order_id": "217503754",
    }  # fmt: skip
    payload = {"type": "TOKEN", "obj": obj}
    message = b"MasterCard2024-06-13T11:33:44a@b.eg1xxxx-2346302852217503754tok"
    digest = hmac.new(SECRET, message, hashlib.sha512).hexdigest().encode()
    paymob.verify(payload, digest, [SECRET])


def test_identify_keys_on_the_transaction_and_its_state() -> None:
    received = datetime(2026, 11, 28, tzinfo=UTC)
    paid = sample()
    refunded = sample()
    refunded["obj"]["is_refunded"] = True
    first = paymob.identify("4097558", paid, received)
    again = paymob.identify("4097558", sample(), received)
    later = paymob.identify("4097558", refunded, received)
    assert first.delivery_id == again.delivery_id != later.delivery_id
    assert first.delivery_id.startswith("TRANSACTION:192036465:")
    assert (first.source, first.topic, first.shop_domain) == ("paymob", "TRANSACTION", "4097558")


@pytest.mark.parametrize("obj_id", [None, "", "\ud800"])
def test_transaction_without_a_usable_id_is_invalid(obj_id: Any) -> None:
    payload = sample()
    payload["obj"]["id"] = obj_id
    with pytest.raises(InvalidPayload):
        paymob.identify("4097558", payload, datetime(2026, 11, 28, tzinfo=UTC))
