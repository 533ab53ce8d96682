"""Mapping: a verified delivery in, CRM commands out. Pure functions, no network.

Interface used by ingestion (`ignore_reason`) and by workers (`map_delivery`).
"""

from __future__ import annotations

from adapter.crm.commands import AnyCommand
from adapter.mapping.config import MappingConfig
from adapter.webhook import WebhookDelivery


class MappingError(Exception):
    """A payload that cannot make a valid CRM record; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def ignore_reason(delivery: WebhookDelivery, config: MappingConfig) -> str | None:
    """Why this verified delivery is not handled (unknown topic, test mode), or None."""
    raise NotImplementedError


def map_delivery(delivery: WebhookDelivery, config: MappingConfig) -> list[AnyCommand]:
    """The CRM commands for one delivery; raises MappingError when none can be made."""
    raise NotImplementedError
