"""`adapter sandbox`: the CRM emulator of `crm_sandbox`, started from the adapter's command."""

from __future__ import annotations

from crm_sandbox.cli import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
