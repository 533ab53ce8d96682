"""`adapter.ops.auth`: session cookies signed with the admin token, CSRF tokens bound to them."""

from __future__ import annotations

import time

from pydantic import SecretStr

from adapter.ops import auth

TOKEN = SecretStr("the-admin-token")


def test_a_fresh_cookie_is_valid_and_does_not_contain_the_token() -> None:
    cookie = auth.new_cookie(TOKEN)
    assert auth.cookie_valid(TOKEN, cookie)
    assert TOKEN.get_secret_value() not in cookie


def test_a_cookie_dies_with_its_token() -> None:
    cookie = auth.new_cookie(TOKEN)
    assert not auth.cookie_valid(SecretStr("a-rotated-token"), cookie)


def test_a_cookie_expires() -> None:
    issued = time.time() - auth.SESSION_SECONDS - 1
    assert not auth.cookie_valid(TOKEN, auth.new_cookie(TOKEN, now=issued))


def test_a_tampered_cookie_is_refused() -> None:
    issued, nonce, mac = auth.new_cookie(TOKEN).split(".")
    later = str(int(issued) + 60)
    for forged in (f"{later}.{nonce}.{mac}", f"{issued}.{nonce}x.{mac}", "garbage", ""):
        assert not auth.cookie_valid(TOKEN, forged)


def test_csrf_tokens_differ_per_session() -> None:
    first, second = auth.new_cookie(TOKEN), auth.new_cookie(TOKEN)
    assert auth.csrf_for(TOKEN, first) != auth.csrf_for(TOKEN, second)
    assert auth.csrf_for(TOKEN, first) == auth.csrf_for(TOKEN, first)
