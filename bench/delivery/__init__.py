"""Delivery benchmark: N orders through the outbox and real worker processes into the sandbox.

`run(...) -> dict` for a `python -m bench` runner; `python -m bench.delivery` prints a table.
"""

from bench.delivery.runner import format_table, run

__all__ = ["format_table", "run"]
