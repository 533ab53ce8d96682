"""Where the tests find their payloads: the repository's own, and the shared conformance set.

The repository's fixtures (tests/fixtures) are written here, in the shapes Shopify and
Stripe document, and every behaviour is tested on them. The CRM's API document and the
providers' published payloads are not ours to copy: conformance tests read them from one
folder, `CRM_ADAPTER_SHARED` (default `../shared` beside the repository), and are skipped,
with the reason, when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SHARED_SETTING = "CRM_ADAPTER_SHARED"
SKIP_PREFIX = "conformance:"


def shared_root() -> Path:
    """The folder holding crm-api.md and fixtures/; relative paths start at the repository."""
    configured = os.environ.get(SHARED_SETTING, "").strip() or "../shared"
    return (REPO_ROOT / configured).resolve()


def missing_reason(relative: str) -> str:
    return (
        f"{SKIP_PREFIX} {shared_root() / relative} not found "
        f"(set {SHARED_SETTING} to the folder holding crm-api.md and fixtures/)"
    )


def shared_path(relative: str) -> Path:
    """A file or folder of the shared set; skips the calling test when it is absent."""
    path = shared_root() / relative
    if not path.exists():
        pytest.skip(missing_reason(relative))
    return path


def shared_params(folder: str, pattern: str = "*.json") -> list[Any]:
    """pytest params for each shared file in `folder`, or one skipped param saying why."""
    path = shared_root() / folder
    files = sorted(path.glob(pattern)) if path.is_dir() else []
    conformance = pytest.mark.conformance
    if not files:
        skip = pytest.mark.skip(reason=missing_reason(folder))
        return [pytest.param(None, id="shared-missing", marks=[conformance, skip])]
    return [pytest.param(file, id=f"shared-{file.name}", marks=conformance) for file in files]


def payload_params(kind: str) -> list[Any]:
    """Every payload of a kind (`shopify`): ours, then the shared ones as conformance params."""
    own = [pytest.param(file, id=file.name) for file in sorted((FIXTURES / kind).glob("*.json"))]
    return [*own, *shared_params(f"fixtures/{kind}")]


def own_fixture(relative: str) -> Path:
    """A payload of the repository's own set (`shopify/orders_create.json`)."""
    return FIXTURES / relative
