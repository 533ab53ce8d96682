"""Webhook sources, one module each, all the same shape.

`verify(body, headers, ...)` raises `errors.VerificationError` unless the raw bytes carry
a valid proof; `identify(...)` turns the verified, parsed body into a `WebhookDelivery`
keyed for deduplication. `headers` are looked up by lower-case name. The exception tree
of ingestion is in `errors`.
"""
