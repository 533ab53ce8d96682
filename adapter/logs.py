"""Structured logs that never carry a secret, an email address or a phone number.

`configure_logging(settings)` installs one handler on the root logger, as text or as
JSON lines, with a `RedactingFilter` on it: every record that reaches the handler,
from any module, has its message, arguments, exception text and extra fields
rewritten before it is formatted. Records carry the request id bound to the current
context (`RequestIdMiddleware` on the web side, `bind_request_id()` in workers).

Third-party loggers that install handlers of their own bypass the root handler: call
`configure_logging` before starting RQ (which then reuses the root handler) and run
uvicorn with `log_config=None` so its loggers propagate here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from adapter.settings import Settings

REQUEST_ID_HEADER = "X-Request-Id"
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# A caller-supplied id is echoed into logs and headers, so only harmless ids are kept.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Prefixes of provider secrets worth masking even when they are not configured here.
_KNOWN_SECRET = re.compile(
    r"\b(?:whsec|shpss|shpat|shpca|shppa|sk_live|sk_test|rk_live|rk_test)_[A-Za-z0-9+/=_-]{6,}"
)
_EMAIL = re.compile(
    r"(?<![\w.+-])([\w.+-]+)(?:@|%40)([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)\.([A-Za-z]{2,})\b"
)
# International numbers may be grouped ("+20 101 717 7777"); bare runs must be 8-15 digits.
# A URL-encoded "+" (%2B, as in access-log paths and query strings) starts one too.
_PHONE = re.compile(r"(?<![\w+.])(?:(?:\+|%2[Bb])\d(?:[ .-]?\d){7,14}|\d{8,15})(?!\w|\.\d)")
_ENCODED_PLUS = "%2B"
_ENCODED_AT = "%40"
_MASK = "***"

# LogRecord attributes that are not caller-supplied `extra` fields.
_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "rid", "_redacted"}
)


def _mask_email(match: re.Match[str]) -> str:
    local, domain, tld = match.group(1), match.group(2), match.group(3)
    return f"{local[0]}***@{domain[0]}***.{tld}"


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    plus = ""
    if text.startswith("+"):
        plus = "+"
    elif text[:3].upper() == _ENCODED_PLUS:
        plus, text = _ENCODED_PLUS, text[3:]
    digits = re.sub(r"\D", "", text)
    return f"{plus}{digits[:2]}******{digits[-2:]}"


class Redactor:
    """Masks configured secrets, provider-looking secrets, emails and phone numbers."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret that contains another is masked whole
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, _MASK)
        # a pattern that cannot match is not run: every access-log line comes here
        if "_" in text:
            text = _KNOWN_SECRET.sub(_MASK, text)
        if "@" in text or _ENCODED_AT in text:
            text = _EMAIL.sub(_mask_email, text)
        return _PHONE.sub(_mask_phone, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record in place so that every formatter downstream sees masked text."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!s} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, self.redact(value))
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        record._redacted = True
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.rid = f" [{rid}]" if rid else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, request_id, exc, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        for key, value in vars(record).items():
            if key in _RECORD_FIELDS:
                continue
            if isinstance(value, str | int | float | bool) or value is None:
                entry[key] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret value: webhook secrets, form secrets, CRM keys (every
    tenant's too), admin token."""
    values = [s.get_secret_value() for s in settings.shopify_webhook_secrets]
    for shop_secrets in settings.shopify_shop_secrets.values():
        values += [s.get_secret_value() for s in shop_secrets]
    values += [s.get_secret_value() for s in settings.stripe_webhook_secrets]
    for form in settings.forms.values():
        values += [s.get_secret_value() for s in form.auth.secrets]
    values.append(settings.crm_api_key.get_secret_value())
    values += [t.crm_api_key.get_secret_value() for t in settings.tenants.values()]
    if settings.admin_token is not None:
        values.append(settings.admin_token.get_secret_value())
    password = urlsplit(settings.redis_url).password
    if password:
        values.append(password)
    return [v for v in values if v]


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Install the redacting handler on the root logger; idempotent. Returns the handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_adapter_handler", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._adapter_handler = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    redacting = RedactingFilter(Redactor(secret_values(settings)))
    handler.addFilter(redacting)
    # handlers someone else installed on the root logger get the same protection
    for other in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in other.filters):
            other.addFilter(redacting)
    root.addHandler(handler)
    root.setLevel(parse_level(settings.log_level))
    return handler


def parse_level(name: str) -> int:
    """`LOG_LEVEL` as a logging level; ValueError names the setting when it is unknown."""
    level = logging.getLevelName(name.strip().upper())
    if not isinstance(level, int):
        raise ValueError(f"LOG_LEVEL: unknown level {name!r} (use DEBUG, INFO, WARNING, ERROR)")
    return level


def new_request_id() -> str:
    # 32 random hex digits, as uuid4().hex gives, for a third of its cost
    return os.urandom(16).hex()


def current_request_id() -> str | None:
    return request_id.get()


def _kept_or_new(value: str | None) -> str:
    return value if value and _VALID_REQUEST_ID.fullmatch(value) else new_request_id()


@contextmanager
def bind_request_id(value: str | None = None) -> Iterator[str]:
    """Bind a request id (a fresh one if none is given) to logs in this context."""
    rid = _kept_or_new(value)
    token = request_id.set(rid)
    try:
        yield rid
    finally:
        request_id.reset(token)


# ASGI header names are lower-case bytes
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")


class RequestIdMiddleware:
    """Takes `X-Request-Id` from the request (or makes one), binds it, echoes it back.

    It wraps every webhook request, so it reads and writes the raw ASGI header lists
    itself: Starlette's Headers and MutableHeaders made it ten times as costly.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_NAME:
                incoming = value.decode("latin-1")
                break
        rid = _kept_or_new(incoming)
        echoed = (_REQUEST_ID_NAME, rid.encode("latin-1"))
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                message["headers"] = [
                    *(item for item in headers if item[0].lower() != _REQUEST_ID_NAME),
                    echoed,
                ]
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
