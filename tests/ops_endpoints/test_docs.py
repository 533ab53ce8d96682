"""docs/monitoring.md names every metric `/metrics` exposes."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from adapter.ops.collector import exposition
from adapter.ops.state import Reader
from tests.ops_endpoints.support import settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def test_every_exposed_metric_is_documented(redis_url: str) -> None:
    reader = Reader.connect(settings(redis_url))
    try:
        text = exposition(reader).decode()
    finally:
        reader.close()
    doc = DOC.read_text()
    families = [family.name for family in text_string_to_metric_families(text)]
    assert len(families) > 20
    for name in families:
        assert f"`{name}" in doc, name
