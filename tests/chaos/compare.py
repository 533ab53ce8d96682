"""The CRM's final state against the expected one, record by record.

The state is read through the CRM's public API (rest-api-proxy, the org's key, pages
of `limit`/`offset`), with none of our client's code, and compared as plain JSON:
every expected deal exactly once per external id, every expected contact exactly
once per email, with the expected values, and nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from tests.chaos.workload import Expected

PAGE = 500
DEAL_FIELDS = "id,title,value,currency,stage,contact_id,custom_fields"
CONTACT_FIELDS = "id,first_name,last_name,emails"


def read_all(http: httpx.Client, table: str, select: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        response = http.get(
            f"rest-api-proxy/{table}",
            params={"select": select, "order": "id.asc", "limit": PAGE, "offset": len(rows)},
        )
        response.raise_for_status()
        page: list[dict[str, Any]] = response.json()
        rows += page
        if len(page) < PAGE:
            return rows


def crm_client(base_url: str, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url + "/", headers={"X-API-Key": api_key}, timeout=30)


@dataclass
class Report:
    lost: list[str] = field(default_factory=list)
    # key -> how many records carry it (more than one)
    duplicated: dict[str, int] = field(default_factory=dict)
    # "key: field expected X, found Y"
    wrong: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def extra_copies(self) -> int:
        return sum(count - 1 for count in self.duplicated.values())

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong or self.unexpected)

    def summary(self, limit: int = 10) -> str:
        parts = []
        for name, items in (
            ("lost", self.lost),
            ("duplicated", [f"{k} x{n}" for k, n in self.duplicated.items()]),
            ("wrong", self.wrong),
            ("unexpected", self.unexpected),
        ):
            if items:
                parts.append(f"{len(items)} {name}: {items[:limit]}")
        return "; ".join(parts) or "clean"


def _same_value(found: Any, wanted: Decimal) -> bool:
    if isinstance(found, bool) or not isinstance(found, int | float | str):
        return False
    return Decimal(str(found)) == wanted


def compare(
    expected: Expected, deals: list[dict[str, Any]], contacts: list[dict[str, Any]]
) -> tuple[Report, Report]:
    """(deals report, contacts report)."""
    return _deals(expected, deals, contacts), _contacts(expected, contacts)


def _deals(
    expected: Expected, deals: list[dict[str, Any]], contacts: list[dict[str, Any]]
) -> Report:
    report = Report()
    emails_of = {c["id"]: set(c.get("emails") or []) for c in contacts}
    by_key: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for deal in deals:
        by_key[str((deal.get("custom_fields") or {}).get("external_id"))].append(deal)
    for key, want in expected.deals.items():
        found = by_key.get(key, [])
        if not found:
            report.lost.append(key)
            continue
        if len(found) > 1:
            report.duplicated[key] = len(found)
        deal = found[0]
        for name, value in (
            ("title", want.title),
            ("stage", want.stage),
            ("currency", want.currency),
        ):
            if deal.get(name) != value:
                report.wrong.append(f"{key}: {name} expected {value!r}, found {deal.get(name)!r}")
        if not _same_value(deal.get("value"), want.value):
            report.wrong.append(f"{key}: value expected {want.value}, found {deal.get('value')}")
        if want.email not in emails_of.get(deal.get("contact_id"), set()):
            report.wrong.append(f"{key}: not linked to the contact {want.email}")
    report.unexpected = sorted(set(by_key) - set(expected.deals))
    return report


def _contacts(expected: Expected, contacts: list[dict[str, Any]]) -> Report:
    report = Report()
    by_email: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for contact in contacts:
        for email in contact.get("emails") or [None]:
            by_email[str(email)].append(contact)
    for email, want in expected.contacts.items():
        found = by_email.get(email, [])
        if not found:
            report.lost.append(email)
            continue
        if len(found) > 1:
            report.duplicated[email] = len(found)
        contact = found[0]
        for name, value in (("first_name", want.first_name), ("last_name", want.last_name)):
            if value is not None and contact.get(name) != value:
                report.wrong.append(
                    f"{email}: {name} expected {value!r}, found {contact.get(name)!r}"
                )
    report.unexpected = sorted(set(by_email) - set(expected.contacts))
    return report
