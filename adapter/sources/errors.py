"""Why ingestion refuses a delivery: one exception per answer the endpoint gives.

    IngestError                  any refusal; `status` is the HTTP answer, `reason` its plain words
    ├── UnknownEndpoint          404  no such source or form
    ├── BodyTooLarge             413  over `max_body_bytes`
    ├── VerificationError        401  signature or token missing, wrong or malformed
    ├── InvalidPayload           400  not UTF-8, not JSON, not an object, no id
    │   └── StaleTimestamp       400  signed too long ago (or too far ahead)
    ├── UnsupportedMediaType     415  a form body we cannot read
    ├── QueueUnavailable         503  Redis could not take the delivery; the provider retries
    └── SourceNotConfigured      503  no secret is configured for this source: our fault, so
                                      a 5xx (the provider retries; operators' 5xx alerts fire)

Reasons go back to the caller as `{"error": reason}`: never put a secret or a payload value in one.
"""

from __future__ import annotations

from typing import ClassVar


class IngestError(Exception):
    status: ClassVar[int] = 400
    # a short stable name for metrics and logs
    kind: ClassVar[str] = "rejected"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownEndpoint(IngestError):
    status = 404
    kind = "not_found"


class BodyTooLarge(IngestError):
    status = 413
    kind = "too_large"


class VerificationError(IngestError):
    status = 401
    kind = "unauthorized"


class InvalidPayload(IngestError):
    status = 400
    kind = "invalid"


class StaleTimestamp(InvalidPayload):
    kind = "stale"


class UnsupportedMediaType(IngestError):
    status = 415
    kind = "unsupported_media_type"


class QueueUnavailable(IngestError):
    status = 503
    kind = "unavailable"
    retry_after_seconds: ClassVar[int] = 5


class SourceNotConfigured(IngestError):
    status = 503
    kind = "not_configured"
