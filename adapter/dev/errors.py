"""The dev mode's one error: something it needs could not be started."""

from __future__ import annotations


class DevError(Exception):
    """The message is for the user: what failed and what to do about it."""
