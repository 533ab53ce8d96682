"""Who may see `/status` and replay dead letters: whoever holds `ADMIN_TOKEN`.

A request proves it with `Authorization: Bearer <token>`, or with the session cookie
that `/status?token=<token>` sets once. The cookie never holds the token: it holds
when it was issued, a random nonce, and an HMAC of both under the token, so it dies
with the token and after `SESSION_SECONDS`. A browser sends the cookie by itself, so
a form post must also carry the session's CSRF token (an HMAC of its nonce) in a
field or the `X-CSRF-Token` header. Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from pydantic import SecretStr
from starlette.requests import Request

COOKIE = "adapter_admin"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    """An authenticated request: `cookie` is None for Bearer requests."""

    cookie: str | None
    csrf: str


def _mac(token: SecretStr, message: str) -> str:
    key = token.get_secret_value().encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def new_cookie(token: SecretStr, now: float | None = None) -> str:
    issued = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    return f"{issued}.{nonce}.{_mac(token, f'session:{issued}:{nonce}')}"


def csrf_for(token: SecretStr, cookie: str | None) -> str:
    nonce = cookie.split(".")[1] if cookie else "bearer"
    return _mac(token, f"csrf:{nonce}")


def cookie_valid(token: SecretStr, cookie: str, now: float | None = None) -> bool:
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return False
    issued, nonce, mac = parts
    age = (time.time() if now is None else now) - int(issued)
    if not 0 <= age <= SESSION_SECONDS:
        return False
    return _same(mac, _mac(token, f"session:{issued}:{nonce}"))


def token_matches(token: SecretStr, given: str) -> bool:
    return _same(given, token.get_secret_value())


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticate(request: Request, token: SecretStr) -> Session | None:
    """The request's session, or None when it proves nothing."""
    given = bearer(request)
    if given is not None:
        return Session(None, csrf_for(token, None)) if token_matches(token, given) else None
    cookie = request.cookies.get(COOKIE)
    if cookie and cookie_valid(token, cookie):
        return Session(cookie, csrf_for(token, cookie))
    return None


def csrf_ok(session: Session, request: Request, form_value: str | None) -> bool:
    """A Bearer request needs no CSRF token (browsers never add the header by themselves)."""
    if session.cookie is None:
        return True
    given = form_value or request.headers.get(CSRF_HEADER, "")
    return bool(given) and _same(given, session.csrf)
