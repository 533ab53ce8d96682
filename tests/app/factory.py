"""The app as tests serve it under uvicorn: the real app, with a fixed ignore rule.

`adapter.mapping.ignore_reason` belongs to the mapping layer and changes with its
configuration; these tests need topics that are ignored regardless of it.
"""

from __future__ import annotations

from starlette.applications import Starlette

from adapter.app import create_app
from adapter.settings import load_settings
from adapter.webhook import WebhookDelivery

IGNORED_TOPICS = frozenset({"products/update", "balance.available"})


def ignore_test_topics(delivery: WebhookDelivery) -> str | None:
    if delivery.topic in IGNORED_TOPICS:
        return f"topic {delivery.topic} is not handled"
    return None


def create() -> Starlette:
    return create_app(load_settings(), ignore=ignore_test_topics)
