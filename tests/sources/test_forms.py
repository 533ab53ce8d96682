from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

from adapter.settings import FormAuth, FormConfig
from adapter.sources import forms
from adapter.sources.errors import InvalidPayload, UnsupportedMediaType, VerificationError

# whsec_ + base64 of random bytes, as Standard Webhooks senders issue them
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_OLD_SECRET = "whsec_c2VjcmV0LXByZXZpb3VzLWtleS0xMjM0NTY3OA=="
BODY = b'{"email": "ada@example.com", "name": "Ada"}'
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def auth(kind: str, *secrets: str, header: str | None = None) -> FormAuth:
    return FormAuth(kind=kind, secrets=[SecretStr(s) for s in secrets], header=header)


def sw_headers(
    body: bytes, secret: str = SW_SECRET, msg_id: str = "msg_1", when: datetime | None = None
) -> dict[str, str]:
    """Signed by the standardwebhooks package itself: the oracle."""
    timestamp = when or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def test_standard_webhooks_signature_verifies() -> None:
    forms.verify(BODY, sw_headers(BODY), auth("standard_webhooks", SW_SECRET))


@pytest.mark.parametrize("signed_with", [SW_SECRET, SW_OLD_SECRET])
def test_standard_webhooks_either_rotated_secret_verifies(signed_with: str) -> None:
    forms.verify(
        BODY, sw_headers(BODY, signed_with), auth("standard_webhooks", SW_SECRET, SW_OLD_SECRET)
    )


def test_standard_webhooks_several_offered_signatures_any_matches() -> None:
    headers = sw_headers(BODY)
    other = sw_headers(BODY, SW_OLD_SECRET)["webhook-signature"]
    headers["webhook-signature"] = f"{other} {headers['webhook-signature']}"
    forms.verify(BODY, headers, auth("standard_webhooks", SW_SECRET))


def test_standard_webhooks_wrong_secret_is_refused() -> None:
    with pytest.raises(VerificationError):
        forms.verify(BODY, sw_headers(BODY, SW_OLD_SECRET), auth("standard_webhooks", SW_SECRET))


def test_standard_webhooks_old_timestamp_is_refused() -> None:
    headers = sw_headers(BODY, when=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(VerificationError):
        forms.verify(BODY, headers, auth("standard_webhooks", SW_SECRET))


def test_standard_webhooks_invalid_utf8_body_is_refused() -> None:
    headers = sw_headers(BODY)
    with pytest.raises(VerificationError):
        forms.verify(b"\xff\xfe", headers, auth("standard_webhooks", SW_SECRET))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook-signature", "v1"),  # no comma: ValueError inside the package
        ("webhook-signature", "v1,not-base64!"),  # binascii.Error inside the package
        ("webhook-signature", "v1,a,b"),
        ("webhook-signature", "ü"),
        ("webhook-signature", ""),
        ("webhook-timestamp", "yesterday"),
        ("webhook-timestamp", "nan"),
        ("webhook-timestamp", "1e400"),
        ("webhook-timestamp", ""),
        ("webhook-id", ""),
    ],
)
def test_standard_webhooks_malformed_header_is_a_verification_error(name: str, value: str) -> None:
    headers = sw_headers(BODY)
    headers[name] = value
    with pytest.raises(VerificationError):
        forms.verify(BODY, headers, auth("standard_webhooks", SW_SECRET))


def hmac_header(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("signed_with", ["form-new", "form-old"])
def test_hmac_either_rotated_secret_verifies(signed_with: str) -> None:
    headers = {"x-signature": hmac_header(BODY, signed_with)}
    forms.verify(BODY, headers, auth("hmac", "form-new", "form-old"))


def test_hmac_header_name_is_configurable() -> None:
    headers = {"x-hub-signature-256": hmac_header(BODY, "form-new")}
    forms.verify(BODY, headers, auth("hmac", "form-new", header="X-Hub-Signature-256"))


def test_hmac_uppercase_hex_verifies() -> None:
    value = hmac_header(BODY, "form-new")
    forms.verify(BODY, {"x-signature": "sha256=" + value[7:].upper()}, auth("hmac", "form-new"))


def test_hmac_wrong_secret_is_refused() -> None:
    with pytest.raises(VerificationError):
        forms.verify(BODY, {"x-signature": hmac_header(BODY, "other")}, auth("hmac", "form-new"))


@pytest.mark.parametrize(
    "value",
    ["", "sha256=", "sha1=abcd", "deadbeef", "sha256=zz", "sha256=ü", "sha256=" + "0" * 64],
)
def test_hmac_malformed_header_is_a_verification_error(value: str) -> None:
    with pytest.raises(VerificationError):
        forms.verify(BODY, {"x-signature": value}, auth("hmac", "form-new"))


@pytest.mark.parametrize("token", ["tok-new", "tok-old"])
def test_token_either_rotated_token_verifies(token: str) -> None:
    forms.verify(BODY, {"x-form-token": token}, auth("token", "tok-new", "tok-old"))


def test_token_header_name_is_configurable() -> None:
    forms.verify(BODY, {"x-api-key": "tok-new"}, auth("token", "tok-new", header="X-Api-Key"))


@pytest.mark.parametrize(
    "headers", [{}, {"x-form-token": ""}, {"x-form-token": "tok"}, {"x-form-token": "ü"}]
)
def test_token_missing_or_wrong_is_a_verification_error(headers: dict[str, str]) -> None:
    with pytest.raises(VerificationError):
        forms.verify(BODY, headers, auth("token", "tok-new"))


def test_bad_standard_webhooks_secret_fails_the_config_check() -> None:
    with pytest.raises(ValueError, match="not a valid whsec_ key"):
        forms.check_auth(auth("standard_webhooks", "whsec_!!!not base64"))


def test_json_body_parses_to_object() -> None:
    assert forms.parse(BODY, "application/json; charset=utf-8") == {
        "email": "ada@example.com",
        "name": "Ada",
    }


def test_urlencoded_body_becomes_fields_with_repeats_as_list() -> None:
    body = b"name=Ada+L&interest=crm&interest=api&empty=&city=K%C3%B6ln"
    assert forms.parse(body, "application/x-www-form-urlencoded") == {
        "name": "Ada L",
        "interest": ["crm", "api"],
        "empty": "",
        "city": "Köln",
    }


@pytest.mark.parametrize("body", [b"name=%FF", b"name=\xff"])
def test_urlencoded_invalid_utf8_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        forms.parse(body, "application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    "content_type",
    ["", "text/plain", "multipart/form-data; boundary=x", "application/json; charset=latin-1"],
)
def test_other_content_types_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        forms.parse(BODY, content_type)


def form(honeypot: str | None = "website") -> FormConfig:
    return FormConfig(auth=auth("token", "t"), honeypot_field=honeypot)


@pytest.mark.parametrize(
    ("payload", "spam"),
    [
        ({"website": "http://spam.example"}, True),
        ({"website": ["", "x"]}, True),
        ({"website": ""}, False),
        ({"website": "   "}, False),
        ({"website": None}, False),
        ({}, False),
    ],
)
def test_honeypot_filled_is_spam(payload: dict[str, Any], spam: bool) -> None:
    assert forms.is_spam(payload, form()) is spam


def test_without_honeypot_nothing_is_spam() -> None:
    assert forms.is_spam({"website": "x"}, form(None)) is False


def test_identify_standard_webhooks_keys_by_webhook_id_without_signature() -> None:
    headers = sw_headers(BODY, msg_id="msg_42")
    delivery = forms.identify(
        "contact", BODY, {"a": 1}, headers, auth("standard_webhooks", SW_SECRET), NOW
    )
    assert (delivery.source, delivery.topic, delivery.form_id) == ("form", "contact", "contact")
    assert delivery.delivery_id == "msg_42"
    assert "webhook-signature" not in delivery.headers
    assert delivery.headers["webhook-id"] == "msg_42"


def test_identify_unsigned_forms_key_by_body_hash_and_keep_no_token() -> None:
    headers = {"x-form-token": "tok-new"}
    delivery = forms.identify("contact", BODY, {"a": 1}, headers, auth("token", "tok-new"), NOW)
    assert delivery.delivery_id == "sha256:" + hashlib.sha256(BODY).hexdigest()
    assert delivery.headers == {}
