"""The hostile-input catalogue: one row per malformed or hostile request, with its answer.

Each row is (id, description, request, expected status). `request` is a function, so
that time-bound signatures (Stripe, standard webhooks) are made when the row is sent.
`queued` is how many deliveries the row may add to the queue: 0 for every refusal,
for an ignored topic and for spam. An expected status of None means the server closes
the connection without an answer (the client sent a body shorter than it declared).

The bodies carry the personal data and the requests the secrets that must never reach
a log: see PERSONAL and SECRETS.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from adapter.signing import (
    hmac_signature,
    shopify_hmac,
    standard_webhooks_headers,
    stripe_signature,
)
from tests.hostile.rawhttp import Request

SHOPIFY_SECRET = "shpss_hostile_0123456789abcdef"
STRIPE_SECRET = "whsec_hostileStripeSecret0123456789"
FORM_HMAC_SECRET = "form-hmac-hostile-secret-4242"
FORM_TOKEN = "form-token-hostile-secret-7777"
SW_SECRET = "whsec_aG9zdGlsZS1zdGFuZGFyZC13ZWJob29rcy1rZXk="
CRM_API_KEY = "cg_hostile_crm_key_0123456789"
ADMIN_TOKEN = "admin-hostile-token-0123456789"
SECRETS = (SHOPIFY_SECRET, STRIPE_SECRET, FORM_HMAC_SECRET, FORM_TOKEN, SW_SECRET,
           SW_SECRET.removeprefix("whsec_"), CRM_API_KEY, ADMIN_TOKEN)  # fmt: skip

EMAIL = "hostile.victim@example.com"
PATH_EMAIL = "path.victim@example.org"
PHONE = "+201017177777"
PATH_PHONE = "+201017177788"
PERSONAL = (EMAIL, PATH_EMAIL, PHONE, PATH_PHONE)

SHOP = "hostile-store.myshopify.com"
MAX_BODY_BYTES = 1024 * 1024
STRIPE_TOLERANCE_SECONDS = 300

CONFIG = f"""
[forms.contact]
name = "Contact us"
honeypot_field = "website"
[forms.contact.auth]
kind = "hmac"
secrets = ["{FORM_HMAC_SECRET}"]

[forms.nocode.auth]
kind = "token"
secrets = ["{FORM_TOKEN}"]

[forms.signed.auth]
kind = "standard_webhooks"
secrets = ["{SW_SECRET}"]
"""


def server_env(redis_url: str, config_path: str, log_format: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
        "STRIPE_WEBHOOK_SECRETS": STRIPE_SECRET,
        "STRIPE_TOLERANCE_SECONDS": str(STRIPE_TOLERANCE_SECONDS),
        "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "CRM_API_KEY": CRM_API_KEY,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ADAPTER_CONFIG": config_path,
        "LOG_FORMAT": log_format,
        # everything the server would ever log, access lines included
        "LOG_LEVEL": "DEBUG",
    }


@dataclass(frozen=True)
class Case:
    id: str
    description: str
    request: Callable[[], Request]
    status: int | None
    queued: int = 0


def person_body(**extra: object) -> bytes:
    """A JSON object full of personal data, shaped like an order or a lead."""
    return json.dumps(
        {
            "id": 4242,
            "email": EMAIL,
            "phone": PHONE,
            "name": "Hostile Victim",
            "customer": {"email": EMAIL, "phone": PHONE},
            **extra,
        }
    ).encode()


BODY = person_body()
JSON = ("Content-Type", "application/json")


# --- Shopify ------------------------------------------------------------------------


def shopify(
    body: bytes = BODY,
    *,
    hmac_value: str | bytes | None = None,
    topic: str | None = "orders/create",
    content_type: str = "application/json",
    extra: tuple[tuple[str, str | bytes], ...] = (),
    target: str = "/webhooks/shopify",
    framing: str = "length",
) -> Callable[[], Request]:
    """A Shopify delivery, correctly signed unless `hmac_value` says otherwise."""

    def build() -> Request:
        headers: list[tuple[str, str | bytes]] = [("Content-Type", content_type)]
        signature = shopify_hmac(body, SHOPIFY_SECRET) if hmac_value is None else hmac_value
        if signature != "":
            headers.append(("X-Shopify-Hmac-Sha256", signature))
        if topic is not None:
            headers.append(("X-Shopify-Topic", topic))
        headers += [
            ("X-Shopify-Shop-Domain", SHOP),
            ("X-Shopify-Webhook-Id", str(uuid.uuid4())),
            ("X-Shopify-API-Version", "2026-07"),
            *extra,
        ]
        return Request("POST", target, tuple(headers), body, framing)

    return build


# --- Stripe -------------------------------------------------------------------------


def stripe_event(event_type: str = "checkout.session.completed", **extra: object) -> bytes:
    return json.dumps(
        {
            "id": "evt_" + uuid.uuid4().hex[:24],
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": True,
            "data": {
                "object": {"id": "cs_hostile", "customer_details": {"email": EMAIL, "phone": PHONE}}
            },
            **extra,
        }
    ).encode()


def stripe(
    body: Callable[[], bytes] | bytes = stripe_event,
    *,
    header: Callable[[bytes], str | bytes] | None = None,
    offset: int = 0,
) -> Callable[[], Request]:
    """A Stripe delivery; `header(body)` replaces the signature, `offset` moves its time."""

    def build() -> Request:
        raw = body() if callable(body) else body
        value = (
            header(raw)
            if header is not None
            else stripe_signature(raw, STRIPE_SECRET, int(time.time()) + offset)
        )
        headers: list[tuple[str, str | bytes]] = [JSON]
        if value != "":
            headers.append(("Stripe-Signature", value))
        return Request("POST", "/webhooks/stripe", tuple(headers), raw)

    return build


def v1(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    """Just the hex of a genuine v1 signature."""
    return stripe_signature(body, secret, timestamp or int(time.time())).split("v1=")[1]


# --- forms --------------------------------------------------------------------------


def form(
    form_id: str,
    body: bytes = BODY,
    *,
    headers: Callable[[bytes], dict[str, str]] | None = None,
    content_type: str | None = None,
    target: str | None = None,
    method: str = "POST",
) -> Callable[[], Request]:
    def build() -> Request:
        made = dict(headers(body)) if headers is not None else {}
        if content_type is not None:
            made["Content-Type"] = content_type
        path = target if target is not None else f"/webhooks/forms/{form_id}"
        return Request(method, path, tuple(made.items()), body)

    return build


def hmac_form(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Signature": hmac_signature(body, FORM_HMAC_SECRET),
    }


def sw_form(body: bytes, **changes: str) -> dict[str, str]:
    return {**standard_webhooks_headers(body, SW_SECRET), **changes}


def sw_old(body: bytes) -> dict[str, str]:
    old = datetime.now(UTC) - timedelta(hours=1)
    return standard_webhooks_headers(body, SW_SECRET, timestamp=old)


def bare(
    method: str, target: str, headers: tuple[tuple[str, str | bytes], ...] = (), body: bytes = b""
) -> Callable[[], Request]:
    def build() -> Request:
        return Request(method, target, headers, body, "length" if body else "none")

    return build


HUGE = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
NESTED = b"[" * 100_000
NOT_UTF8 = b'{"email": "\xff\xfe' + EMAIL.encode() + b'"}'


def _bad_b64(body: bytes) -> str:
    return base64.b64encode(b"\x00" * 31).decode()  # valid base64, wrong length and value


CATALOGUE: list[Case] = [
    # --- Shopify signatures
    Case("shopify-no-signature", "no X-Shopify-Hmac-Sha256 header", shopify(hmac_value=""), 401),
    Case("shopify-wrong-signature", "a well-formed HMAC of another secret",
         shopify(hmac_value=shopify_hmac(BODY, "shpss_someone_else")), 401),
    Case("shopify-truncated-signature", "the genuine HMAC cut short",
         shopify(hmac_value=shopify_hmac(BODY, SHOPIFY_SECRET)[:20]), 401),
    Case("shopify-garbage-base64", "not base64 at all",
         shopify(hmac_value="!!!not*base64@@@==="), 401),
    Case("shopify-short-base64", "valid base64 of the wrong length",
         shopify(hmac_value=_bad_b64(BODY)), 401),
    Case("shopify-non-ascii-signature", "non-ASCII bytes in the signature",
         shopify(hmac_value="h\xe9\xff\xfe".encode("latin-1")), 401),
    Case("shopify-huge-signature", "a 64 KB signature header",
         shopify(hmac_value="A" * 65536), 401),
    Case("shopify-whitespace-signature", "only blanks in the signature", shopify(hmac_value="   "),
         401),
    Case("shopify-secret-as-signature", "the secret itself offered as the signature",
         shopify(hmac_value=SHOPIFY_SECRET), 401),
    Case("shopify-signature-of-other-body", "a genuine HMAC of a different body",
         shopify(hmac_value=shopify_hmac(b"{}", SHOPIFY_SECRET)), 401),
    Case("shopify-hex-signature", "the right HMAC, hex instead of base64",
         shopify(hmac_value="ab" * 32), 401),
    # --- Shopify, verified but not usable
    Case("shopify-missing-topic", "signed, without X-Shopify-Topic", shopify(topic=None), 400),
    Case("shopify-unknown-topic", "signed, a topic nobody handles (ignored)",
         shopify(topic="themes/publish"), 200),
    Case("shopify-empty-body", "signed empty body", shopify(b""), 400),
    Case("shopify-not-json", "signed body that is not JSON",
         shopify(b"email=" + EMAIL.encode()), 400),
    Case("shopify-not-utf8", "signed body that is not UTF-8", shopify(NOT_UTF8), 400),
    Case("shopify-nested", "signed 100 000 nested arrays", shopify(NESTED), 400),
    Case("shopify-array", "signed JSON array", shopify(b"[" + BODY + b"]"), 400),
    Case("shopify-string", "signed JSON string", shopify(json.dumps(EMAIL).encode()),
         400),
    Case("shopify-number", "signed JSON number", shopify(b"201017177777"), 400),
    Case("shopify-null", "signed JSON null", shopify(b"null"), 400),
    Case("shopify-nan", "signed JSON with NaN", shopify(b'{"total_price": NaN}'), 400),
    Case("shopify-xml-content-type", "signed JSON sent as application/xml (queued: Shopify "
         "is known by its signature, not its content type)",
         shopify(content_type="application/xml"), 202, queued=1),
    # --- bodies over the limit
    Case("huge-with-length", "a body over the limit, Content-Length declared",
         shopify(HUGE), 413),
    Case("huge-chunked", "a body over the limit, chunked (no Content-Length)",
         shopify(HUGE, framing="chunked"), 413),
    Case("huge-declared", "Content-Length far over the limit, small body",
         bare("POST", "/webhooks/shopify", (JSON, ("Content-Length", "99999999999")), b""), 413),
    Case("negative-length", "Content-Length -1",
         bare("POST", "/webhooks/stripe", (JSON, ("Content-Length", "-1"))), 400),
    Case("length-not-a-number", "Content-Length abc",
         bare("POST", "/webhooks/stripe", (JSON, ("Content-Length", "abc"))), 400),
    Case("length-and-chunked", "Content-Length and Transfer-Encoding together (smuggling)",
         shopify(BODY, extra=(("Content-Length", "5"),), framing="chunked"), 400),
    Case("bad-chunk-size", "a chunk size that is not hex",
         bare("POST", "/webhooks/shopify", (JSON, ("Transfer-Encoding", "chunked")),
              b"zz\r\n" + BODY + b"\r\n0\r\n\r\n"), 400),
    Case("truncated-body", "the connection closes before the declared body arrived",
         lambda: Request("POST", "/webhooks/shopify",
                         (JSON, ("Content-Length", str(len(BODY) + 100))), BODY, "none",
                         truncate_at=len(BODY)), None),
    # --- header injection (raw socket only: clients refuse to send these)
    Case("header-bare-cr", "CR inside a header value",
         shopify(extra=(("X-Shopify-Triggered-At", b"now\rX-Injected: 1"),)), 400),
    Case("header-bare-lf", "LF inside a header value",
         shopify(extra=(("X-Shopify-Triggered-At", b"now\nX-Injected: 1"),)), 400),
    Case("header-crlf-fold", "CRLF + space: an obsolete folded header line",
         shopify(extra=(("X-Shopify-Triggered-At", b"now\r\n folded"),)), 400),
    Case("header-nul", "NUL inside a header value",
         shopify(extra=(("X-Shopify-Triggered-At", b"now\x00"),)), 400),
    Case("target-crlf", "CRLF inside the request target",
         bare("POST", "/webhooks/shopify?x=1\r\nX-Injected: 1"), 401),
    Case("request-id-injection", "a request id carrying markup and personal data",
         shopify(hmac_value="", extra=(("X-Request-Id", f"<script>{EMAIL}"),)), 401),
    # --- Stripe signatures
    Case("stripe-no-signature", "no Stripe-Signature header", stripe(header=lambda b: ""), 401),
    Case("stripe-garbage", "a header with no key=value pairs",
         stripe(header=lambda b: "garbage"), 401),
    Case("stripe-empty-v1", "t= and an empty v1=",
         stripe(header=lambda b: f"t={int(time.time())},v1="), 401),
    Case("stripe-t-not-numeric", "t=abc with a genuine-looking v1",
         stripe(header=lambda b: f"t=abc,v1={v1(b)}"), 401),
    Case("stripe-t-twice", "two t= values",
         stripe(header=lambda b: f"t={int(time.time())},t=1,v1={v1(b)}"), 401),
    Case("stripe-no-t", "v1 without t", stripe(header=lambda b: f"v1={v1(b)}"), 401),
    Case("stripe-only-v0", "only the legacy v0 scheme",
         stripe(header=lambda b: f"t={int(time.time())},v0={v1(b)}"), 401),
    Case("stripe-huge-t", "a timestamp of 30 digits",
         stripe(header=lambda b: f"t={'9' * 30},v1={v1(b)}"), 401),
    Case("stripe-non-ascii-v1", "non-ASCII bytes in v1",
         stripe(header=lambda b: f"t={int(time.time())},v1=\xe9\xff".encode("latin-1")), 401),
    Case("stripe-wrong-secret", "signed with another secret",
         stripe(header=lambda b: stripe_signature(b, "whsec_other_secret_0000")), 401),
    Case("stripe-secret-as-v1", "the secret itself offered as v1",
         stripe(header=lambda b: f"t={int(time.time())},v1={STRIPE_SECRET}"), 401),
    Case("stripe-replayed", "a genuine signature made an hour ago (replay)",
         stripe(offset=-3600), 400),
    Case("stripe-future", "a genuine signature made an hour ahead", stripe(offset=3600), 400),
    Case("stripe-replayed-wrong", "an old timestamp and a wrong signature",
         stripe(header=lambda b: f"t={int(time.time()) - 3600},v1={'0' * 64}"), 401),
    Case("stripe-no-id", "signed event without an id",
         stripe(body=lambda: json.dumps({"type": "customer.created", "email": EMAIL}).encode()),
         400),
    Case("stripe-array", "signed JSON array", stripe(body=b"[]"), 400),
    Case("stripe-null", "signed JSON null", stripe(body=b"null"), 400),
    Case("stripe-unknown-type", "signed, an event type nobody handles (ignored)",
         stripe(body=lambda: stripe_event("balance.available")), 200),
    # --- forms
    Case("form-unknown", "a form that is not configured",
         form("nope", headers=hmac_form), 404),
    Case("form-hmac-missing", "no X-Signature", form("contact", headers=lambda b: dict([JSON])),
         401),
    Case("form-hmac-no-prefix", "hex without sha256=",
         form("contact", headers=lambda b: {"X-Signature": hmac_signature(b, FORM_HMAC_SECRET)[7:]}
              ), 401),
    Case("form-hmac-empty", "sha256= and nothing",
         form("contact", headers=lambda b: {"X-Signature": "sha256="}), 401),
    Case("form-hmac-secret-as-signature", "the secret itself as the signature",
         form("contact", headers=lambda b: {"X-Signature": f"sha256={FORM_HMAC_SECRET}"}), 401),
    Case("form-token-wrong", "a wrong token",
         form("nocode", headers=lambda b: {"X-Form-Token": "guess"}), 401),
    Case("form-token-of-other-form", "another form's secret as the token",
         form("nocode", headers=lambda b: {"X-Form-Token": FORM_HMAC_SECRET}), 401),
    Case("form-token-non-ascii", "a non-ASCII token",
         lambda: Request("POST", "/webhooks/forms/nocode",
                         (JSON, ("X-Form-Token", "t\xe9".encode("latin-1"))), BODY), 401),
    Case("form-sw-missing", "standard webhooks without its headers",
         form("signed", headers=lambda b: dict([JSON])), 401),
    Case("form-sw-bad-base64", "v1, followed by bad base64",
         form("signed", headers=lambda b: sw_form(b, **{"webhook-signature": "v1,!!!@@@"})), 401),
    Case("form-sw-wrong-version", "v2, instead of v1,",
         form("signed", headers=lambda b: sw_form(
             b, **{"webhook-signature": "v2," + sw_form(b)["webhook-signature"][3:]})), 401),
    Case("form-sw-timestamp-text", "a webhook-timestamp that is not a number",
         form("signed", headers=lambda b: sw_form(b, **{"webhook-timestamp": "yesterday"})), 401),
    Case("form-sw-old", "a genuine signature an hour old", form("signed", headers=sw_old), 401),
    Case("form-sw-secret-as-signature", "the secret as the signature",
         form("signed", headers=lambda b: sw_form(b, **{"webhook-signature": f"v1,{SW_SECRET}"})),
         401),
    Case("form-text-plain", "signed, Content-Type text/plain",
         form("contact", headers=hmac_form, content_type="text/plain"), 415),
    Case("form-multipart", "signed, multipart/form-data",
         form("contact", headers=hmac_form, content_type="multipart/form-data; boundary=x"), 415),
    Case("form-latin1", "signed, charset=latin-1",
         form("contact", headers=hmac_form, content_type="application/json; charset=latin-1"),
         415),
    Case("form-no-content-type", "signed, no Content-Type",
         lambda: Request("POST", "/webhooks/forms/contact",
                         (("X-Signature", hmac_signature(BODY, FORM_HMAC_SECRET)),), BODY), 415),
    Case("form-urlencoded-not-utf8", "signed urlencoded fields that are not UTF-8",
         form("contact", b"email=%ff%fe", headers=hmac_form,
              content_type="application/x-www-form-urlencoded"), 400),
    Case("form-json-array", "signed JSON array", form("contact", b"[1]", headers=hmac_form), 400),
    Case("form-honeypot", "signed, the honeypot filled in (spam: dropped)",
         form("contact", person_body(website="http://spam.example"), headers=hmac_form), 200),
    # --- paths and methods
    Case("path-dot-dot", "/webhooks/../webhooks/shopify",
         bare("POST", "/webhooks/../webhooks/shopify"), 404),
    Case("path-encoded-slash", "/webhooks/forms/..%2f..", bare("POST", "/webhooks/forms/..%2f.."),
         404),
    Case("path-nul", "/webhooks/forms/%00", bare("POST", "/webhooks/forms/%00"), 404),
    Case("path-trailing-slash", "/webhooks/shopify/ (answered as without the slash)",
         bare("POST", "/webhooks/shopify/"), 401),
    Case("path-double-slash", "//webhooks//shopify", bare("POST", "//webhooks//shopify"), 404),
    Case("path-unknown-source", "/webhooks/paypal", shopify(target="/webhooks/paypal"), 404),
    Case("path-long-form-id", "a 20 000 character form id",
         bare("POST", "/webhooks/forms/" + "a" * 20_000), 404),
    Case("path-non-ascii", "raw non-ASCII bytes in the target",
         bare("POST", "/webhooks/forms/\xe9"), 400),
    Case("path-personal-data", "an email and a phone in the path and the query",
         bare("POST", f"/webhooks/forms/{PATH_EMAIL}?phone={quote(PATH_PHONE)}"), 404),
    Case("path-phone", "a phone number as the form id",
         bare("POST", f"/webhooks/forms/{quote(PHONE)}"), 404),
    Case("absolute-target", "an absolute-form target naming another host",
         bare("POST", "http://evil.example/webhooks/shopify"), 401),
    Case("method-get", "GET /webhooks/shopify", bare("GET", "/webhooks/shopify"), 405),
    Case("method-put", "PUT /webhooks/stripe", bare("PUT", "/webhooks/stripe", (JSON,), BODY), 405),
    Case("method-delete", "DELETE /webhooks/forms/contact",
         bare("DELETE", "/webhooks/forms/contact"), 405),
    Case("method-options", "OPTIONS /webhooks/shopify", bare("OPTIONS", "/webhooks/shopify"), 405),
    Case("method-garbage", "a method with a NUL byte", bare("P\x00ST", "/webhooks/shopify"), 400),
]  # fmt: skip
