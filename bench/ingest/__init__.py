"""Ingest benchmark: our Shopify endpoint against a bare HMAC-verifying one.

`python -m bench.ingest` prints a table; `run(...)` returns the figures as a dict.
"""

from bench.ingest.runner import format_table, run

__all__ = ["format_table", "run"]
