from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from adapter.settings import CONFIG_ENV, Settings


@pytest.fixture(autouse=True)
def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the environment the suite runs in."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv("PORT", raising=False)
    for field in Settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)


@pytest.fixture
def restore_root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    filters = {h: list(h.filters) for h in handlers}
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler, kept in filters.items():
        handler.filters[:] = kept
    root.setLevel(level)
