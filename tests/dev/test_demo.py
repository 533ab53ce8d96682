"""`adapter dev --demo --exit`: samples from every source end up in the CRM's tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dev.support import Dev

pytestmark = pytest.mark.slow

CONTACTS = ["Layla Al-Harbi", "Mahmoud Ali", "Noha Hassan", "Omar Farouk", "Youssef Nabil"]
DEALS = [
    "Abandoned checkout c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4",
    "Contact form: Omar Farouk",
    "Order #1042",
    "Payment pi_3QhS0mKx4n2Y8pTq1aBcDeFg",
]


def rows_after(lines: list[str], heading: str) -> list[str]:
    """The body rows of the table under `heading` (after its column names and rule)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 3 :]:
        if not line.strip():
            break
        rows.append(line)
    return rows


@pytest.mark.parametrize("redis", ["auto", "fakeredis"])
def test_demo_prints_the_contacts_and_deals_it_made(tmp_path: Path, redis: str) -> None:
    dev = Dev(tmp_path, "--demo", "--exit", "--redis", redis).start()
    try:
        code = dev.wait(timeout=120)
    finally:
        dev.kill()

    assert code == 0, dev.output + dev.logs()
    contacts = rows_after(dev.lines, "CRM contacts (5):")
    deals = rows_after(dev.lines, "CRM deals (4):")
    assert [row.split("  ")[0] for row in contacts] == CONTACTS
    assert [row.split("  ")[0] for row in deals] == DEALS
    order = next(row for row in deals if row.startswith("Order #1042"))
    assert order.split()[2:6] == ["945", "SAR", "won", "shopify"]
    assert order.endswith("Mahmoud Ali")
