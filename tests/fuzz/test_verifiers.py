"""Arbitrary bytes and headers into every verifier: success or our own error, nothing else;
and a genuine signature over arbitrary bytes always verifies.

Example counts come from the profile (`HYPOTHESIS_PROFILE=thorough` for a long run).
"""

from __future__ import annotations

import base64
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import SecretStr

from adapter.settings import FormAuth
from adapter.signing import (
    form_headers,
    shopify_hmac,
    standard_webhooks_headers,
    stripe_signature,
)
from adapter.sources import forms, shopify, stripe
from adapter.sources.errors import StaleTimestamp, VerificationError

SHOPIFY_SECRET = "shpss_fuzz_secret"
STRIPE_SECRET = "whsec_fuzz_stripe_secret"
SW_SECRET = "whsec_ZnV6ei1zdGFuZGFyZC13ZWJob29rcy1zZWNyZXQ="
TOLERANCE = 300
AUTHS = {
    "hmac": FormAuth(kind="hmac", secrets=[SecretStr("fuzz-hmac-secret")]),
    "token": FormAuth(kind="token", secrets=[SecretStr("fuzz-token")]),
    "standard_webhooks": FormAuth(kind="standard_webhooks", secrets=[SecretStr(SW_SECRET)]),
}

bodies = st.binary(max_size=2048)
# header values arrive latin-1 decoded from the wire; any str at all is fair game too
header_text = st.text(st.characters(max_codepoint=255), max_size=200) | st.text(max_size=50)
now = int(time.time())
timestamps = st.one_of(
    st.integers(min_value=now - 2 * TOLERANCE, max_value=now + 2 * TOLERANCE).map(str),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    header_text,
)
hexes = st.text("0123456789abcdefABCDEF", max_size=70)
b64 = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
stripe_items = st.one_of(
    timestamps.map(lambda t: f"t={t}"),
    hexes.map(lambda h: f"v1={h}"),
    hexes.map(lambda h: f"v0={h}"),
    header_text,
)
stripe_headers = st.lists(stripe_items, max_size=6).map(",".join) | header_text
sw_signatures = st.lists(
    st.one_of(b64.map(lambda s: f"v1,{s}"), b64.map(lambda s: f"v1a,{s}"), header_text),
    max_size=4,
).map(" ".join)


def outcome(check: Callable[[], None], *allowed: type[Exception]) -> str:
    """'ok' or the name of the error; any error outside `allowed` fails the test."""
    try:
        check()
    except allowed as exc:
        return type(exc).__name__
    return "ok"


def some_headers(**values: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, str]]:
    """Dicts of the named headers (each present or not) plus arbitrary other ones."""
    named = st.fixed_dictionaries({}, optional=values)
    others = st.dictionaries(
        st.text(string.ascii_lowercase + "-", max_size=20), header_text, max_size=3
    )
    return st.builds(lambda n, o: {**o, **n}, named, others)


# --- Shopify ------------------------------------------------------------------------


@given(bodies, some_headers(**{shopify.HMAC_HEADER: header_text | b64}))
@example(b"{}", {shopify.HMAC_HEADER: "\udcff"})
def test_shopify_verify_answers_only_success_or_verification_error(
    body: bytes, headers: dict[str, str]
) -> None:
    outcome(lambda: shopify.verify(body, headers, [SHOPIFY_SECRET.encode()]), VerificationError)


@given(bodies)
def test_shopify_genuine_signature_over_any_bytes_verifies(body: bytes) -> None:
    headers = {shopify.HMAC_HEADER: shopify_hmac(body, SHOPIFY_SECRET)}
    shopify.verify(body, headers, [b"shpss_other", SHOPIFY_SECRET.encode()])


# --- Stripe -------------------------------------------------------------------------


@given(bodies, some_headers(**{stripe.SIGNATURE_HEADER: stripe_headers}))
@example(b"{}", {stripe.SIGNATURE_HEADER: "t=1,t=2,v1=00"})
@example(b"{}", {stripe.SIGNATURE_HEADER: "t=\u0661\u0662,v1=00"})
def test_stripe_verify_answers_only_success_or_our_errors(
    body: bytes, headers: dict[str, str]
) -> None:
    outcome(
        lambda: stripe.verify(body, headers, [STRIPE_SECRET.encode()], TOLERANCE),
        VerificationError,
        StaleTimestamp,
    )


@given(bodies, st.integers(min_value=-TOLERANCE, max_value=TOLERANCE))
def test_stripe_genuine_signature_over_any_bytes_verifies(body: bytes, skew: int) -> None:
    signed_at = now + skew
    headers = {stripe.SIGNATURE_HEADER: stripe_signature(body, STRIPE_SECRET, signed_at)}
    stripe.verify(body, headers, [STRIPE_SECRET.encode()], TOLERANCE, now=now)


@given(bodies, st.integers(min_value=TOLERANCE + 1, max_value=10**6), st.sampled_from([-1, 1]))
def test_stripe_genuine_signature_outside_the_window_is_stale(
    body: bytes, distance: int, direction: int
) -> None:
    headers = {stripe.SIGNATURE_HEADER: stripe_signature(body, STRIPE_SECRET, now)}
    verdict = outcome(
        lambda: stripe.verify(
            body, headers, [STRIPE_SECRET.encode()], TOLERANCE, now=now + direction * distance
        ),
        StaleTimestamp,
    )
    assert verdict == "StaleTimestamp"


# --- forms --------------------------------------------------------------------------


@given(
    st.sampled_from(sorted(AUTHS)),
    bodies,
    some_headers(
        **{
            "x-signature": header_text | hexes.map(lambda h: f"sha256={h}"),
            "x-form-token": header_text,
            forms.WEBHOOK_ID: header_text,
            forms.WEBHOOK_TIMESTAMP: timestamps,
            forms.WEBHOOK_SIGNATURE: sw_signatures,
        }
    ),
)
@example(
    "standard_webhooks",
    b"{}",
    {"webhook-id": "m", "webhook-timestamp": "1e99", "webhook-signature": "v1,=="},
)
def test_form_verify_answers_only_success_or_verification_error(
    kind: str, body: bytes, headers: dict[str, str]
) -> None:
    outcome(lambda: forms.verify(body, headers, AUTHS[kind]), VerificationError)


@given(st.sampled_from(["hmac", "token"]), bodies)
def test_form_genuine_hmac_or_token_over_any_bytes_verifies(kind: str, body: bytes) -> None:
    auth = AUTHS[kind]
    headers = {name.lower(): value for name, value in form_headers(body, auth).items()}
    forms.verify(body, headers, auth)


texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=500)
msg_ids = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=40)


@given(texts, msg_ids)
def test_standard_webhooks_genuine_signature_over_any_text_verifies(text: str, msg_id: str) -> None:
    # the library signs text: what goes over the wire is its UTF-8
    body = text.encode("utf-8")
    made = standard_webhooks_headers(body, SW_SECRET, msg_id=msg_id, timestamp=datetime.now(UTC))
    headers = {name.lower(): value for name, value in made.items()}
    forms.verify(body, headers, AUTHS["standard_webhooks"])
