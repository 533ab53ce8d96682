"""HMAC helpers shared by the verifiers: constant-time, every secret tried."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def ascii_bytes(value: str) -> bytes | None:
    """A header value as bytes for `compare_digest`, or None when it is not ASCII."""
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        return None


def any_match(expected: Sequence[bytes], offered: Iterable[bytes]) -> bool:
    """Whether any offered signature equals any expected one.

    Every pair is compared, with no early exit, so the time taken does not tell
    which secret or which offered signature came close.
    """
    matched = False
    for candidate in offered:
        for wanted in expected:
            matched |= hmac.compare_digest(wanted, candidate)
    return matched
