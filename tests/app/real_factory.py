"""The app exactly as `adapter serve` builds it: the mapping layer decides what is ignored."""

from __future__ import annotations

from starlette.applications import Starlette

from adapter.app import create_app
from adapter.settings import load_settings


def create() -> Starlette:
    return create_app(load_settings())
