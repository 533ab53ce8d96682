"""Errors of the CRM client: one tree, translated from httpx in one place (`client.py`).

CrmError
├── TransientCrmError     the same request may succeed later: retry with backoff
│   ├── CrmUnavailable    network error or timeout; the write may or may not have happened
│   ├── CrmServerError    5xx
│   ├── RateLimited       429; `retry_after` seconds from the Retry-After header
│   └── CrmBadResponse    2xx whose body is not what the contract promises
├── CrmKeyRefused         401 or 403: the CRM refused the API key (revoked, mistyped); the
│                         request is fine and waits until the key works again
└── PermanentCrmError     any other 4xx: the request itself is wrong, resending will not help
"""

from __future__ import annotations


class CrmError(Exception):
    """Anything that went wrong talking to the CRM. `status` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientCrmError(CrmError):
    """Worth retrying: the CRM or the network failed, not the request."""

    retry_after: float | None = None


class CrmUnavailable(TransientCrmError):
    """No answer: connection refused or reset, DNS, or a timeout."""


class CrmServerError(TransientCrmError):
    """A 5xx answer."""


class RateLimited(TransientCrmError):
    """429: too many requests for this API key; wait `retry_after` seconds."""

    def __init__(self, retry_after: float, message: str = "rate limit") -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class CrmBadResponse(TransientCrmError):
    """A success status with a body that cannot be read as the contract says."""


class CrmKeyRefused(CrmError):
    """401 or 403: the API key, not the request, is wrong. Resending the same request
    with a working key succeeds, so nothing is dead-lettered for it."""


class PermanentCrmError(CrmError):
    """A 4xx other than 429, with the CRM's own error text in `message`."""
