"""The mapping layer's one error."""

from __future__ import annotations


class MappingError(Exception):
    """A payload that cannot make a valid CRM record; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
