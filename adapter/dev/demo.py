"""`adapter dev --demo`: signed samples from every source, through the web app, into the
CRM; then the records they made, read back from the CRM over HTTP, as tables.

What to wait for is worked out the way the pipeline works it out: each sample is
identified as ingestion identifies it and mapped as the worker maps it, which gives
the external ids its deals and contacts will carry in `custom_fields`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapter.cli.send_test import SendTestError, TestDelivery, build_delivery, send
from adapter.crm.client import CrmClient
from adapter.crm.commands import AnyCommand, CreateLead, UpsertContact, UpsertDeal
from adapter.crm.errors import CrmError
from adapter.crm.models import ContactRecord, DealRecord
from adapter.dev import config
from adapter.dev.stack import DevStack
from adapter.dev.table import render_table
from adapter.mapping import map_delivery
from adapter.settings import Settings
from adapter.sources import forms, shopify, stripe
from adapter.sources.body import parse_json_object
from adapter.webhook import WebhookDelivery

POLL_SECONDS = 1.0


class DemoError(Exception):
    """The demo could not send its samples, or the CRM did not get them in time."""


@dataclass(frozen=True)
class Sample:
    label: str
    source: str
    topic: str | None = None
    payload: dict[str, Any] | None = None


def checkout_payload() -> dict[str, Any]:
    """An abandoned checkout (Shopify sends no sample we bundle for it)."""
    return {
        "token": "c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4",
        "cart_token": "Z2NwLWV1cm9wZS13ZXN0MTpkZXYtY2FydA",
        "name": "#C7D6E5",
        "email": "youssef.nabil@example.com",
        "phone": "+201098765432",
        "buyer_accepts_marketing": True,
        "created_at": "2026-11-28T10:02:11+03:00",
        "updated_at": "2026-11-28T10:05:40+03:00",
        "completed_at": None,
        "currency": "SAR",
        "presentment_currency": "SAR",
        "subtotal_price": "380.00",
        "total_price": "405.00",
        "abandoned_checkout_url": "https://riyadh-oud.myshopify.com/checkouts/dev/recover",
        "discount_codes": [],
        "line_items": [
            {"title": "Cambodian oud oil 3ml", "sku": "OUD-CAM-3", "quantity": 1, "price": "380.00"}
        ],
        "billing_address": {
            "first_name": "Youssef",
            "last_name": "Nabil",
            "phone": "+201098765432",
            "city": "Alexandria",
            "country_code": "EG",
        },
        "shipping_address": {
            "first_name": "Youssef",
            "last_name": "Nabil",
            "phone": "+201098765432",
            "city": "Riyadh",
            "country_code": "SA",
        },
        "customer": {"first_name": "Youssef", "last_name": "Nabil"},
    }


def samples() -> list[Sample]:
    return [
        Sample("Shopify order", "shopify", "orders/create"),
        Sample("Shopify customer", "shopify", "customers/create"),
        Sample("Shopify abandoned checkout", "shopify", "checkouts/create", checkout_payload()),
        Sample("Stripe checkout session", "stripe", "checkout.session.completed"),
        Sample("Contact form", "form"),
    ]


@dataclass
class Expected:
    deals: set[str] = field(default_factory=set)
    contacts: set[str] = field(default_factory=set)

    def add(self, commands: Iterable[AnyCommand]) -> None:
        for command in commands:
            if isinstance(command, UpsertDeal | CreateLead):
                self.deals.add(command.external_id)
            elif isinstance(command, UpsertContact):
                self.contacts.add(command.external_id)


def _identify(delivery: TestDelivery, sample: Sample, settings: Settings) -> WebhookDelivery:
    """The delivery as the web app records it."""
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    payload = parse_json_object(delivery.body)
    now = datetime.now(UTC)
    if sample.source == "shopify":
        return shopify.identify(delivery.body, payload, headers, now)
    if sample.source == "stripe":
        return stripe.identify(delivery.body, payload, headers, now)
    form = settings.forms[config.FORM_ID]
    return forms.identify(config.FORM_ID, delivery.body, payload, headers, form.auth, now)


def send_samples(settings: Settings, web_url: str) -> Expected:
    expected = Expected()
    for sample in samples():
        try:
            delivery = build_delivery(
                settings,
                sample.source,
                topic=sample.topic,
                url=web_url,
                form_id=config.FORM_ID,
                payload=sample.payload,
            )
            response = send(delivery)
        except SendTestError as exc:
            raise DemoError(f"{sample.label}: {exc}") from exc
        if not response.is_success:
            raise DemoError(f"{sample.label}: the web app answered {response.status_code}")
        print(f"  sent {sample.label:<28} -> {response.status_code} {response.text}", flush=True)
        webhook = _identify(delivery, sample, settings)
        expected.add(map_delivery(webhook, settings.mapping, settings.forms))
    return expected


def _in_list(values: Iterable[str]) -> str:
    quoted = ('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "in.(" + ",".join(quoted) + ")"


def _external_id(record: DealRecord | ContactRecord) -> str | None:
    value = (record.custom_fields or {}).get("external_id")
    return value if isinstance(value, str) else None


@dataclass
class Found:
    deals: list[DealRecord] = field(default_factory=list)
    contacts: list[ContactRecord] = field(default_factory=list)


def look_up(client: CrmClient, expected: Expected) -> Found | None:
    """The demo's records, or None while some are still missing."""
    deals = client.list_deals({"custom_fields->>external_id": _in_list(expected.deals)})
    if {_external_id(d) for d in deals} < expected.deals:
        return None
    contact_ids = sorted({d.contact_id for d in deals if d.contact_id})
    by_id = client.list_contacts({"id": _in_list(contact_ids)}) if contact_ids else []
    by_external_id = (
        client.list_contacts({"custom_fields->>external_id": _in_list(expected.contacts)})
        if expected.contacts
        else []
    )
    if {_external_id(c) for c in by_external_id} < expected.contacts:
        return None
    contacts = {c.id: c for c in [*by_id, *by_external_id]}
    return Found(deals=deals, contacts=list(contacts.values()))


def wait_for(client: CrmClient, expected: Expected, timeout: float, stop: threading.Event) -> Found:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = look_up(client, expected)
        except CrmError as exc:
            found = None
            last_error = f" (last answer: {exc.message})"
        else:
            last_error = ""
        if found is not None:
            return found
        if stop.is_set():
            raise DemoError("stopped before the samples reached the CRM")
        if time.monotonic() > deadline:
            raise DemoError(
                f"the samples did not all reach the CRM within {timeout:.0f}s{last_error}"
            )
        stop.wait(POLL_SECONDS)


def _name(first: str | None, last: str | None) -> str:
    return " ".join(part for part in (first, last) if part)


def _first(values: Sequence[str] | None) -> str:
    return values[0] if values else ""


def render(found: Found) -> str:
    names = {c.id: _name(c.first_name, c.last_name) for c in found.contacts}
    contacts = render_table(
        ["name", "email", "phone", "source", "tags"],
        [
            [
                _name(c.first_name, c.last_name),
                _first(c.emails),
                _first(c.phones),
                c.source or "",
                ", ".join(c.tags or []),
            ]
            for c in sorted(found.contacts, key=lambda c: _name(c.first_name, c.last_name))
        ],
    )
    deals = render_table(
        ["title", "value", "stage", "source", "contact"],
        [
            [
                d.title or "",
                f"{d.value} {d.currency or ''}".strip() if d.value is not None else "",
                d.stage or "",
                d.source or "",
                names.get(d.contact_id or "", ""),
            ]
            for d in sorted(found.deals, key=lambda d: d.title or "")
        ],
    )
    return (
        f"CRM contacts ({len(found.contacts)}):\n{contacts}\n\n"
        f"CRM deals ({len(found.deals)}):\n{deals}\n"
    )


def run_demo(stack: DevStack, timeout: float, stop: threading.Event) -> str:
    """Send the samples, wait until the CRM has their records; the tables to print."""
    assert stack.settings is not None
    assert stack.crm is not None
    print("Demo: sending signed samples from every source through the web app", flush=True)
    expected = send_samples(stack.settings, stack.web_url)
    print(f"Demo: waiting for the CRM (up to {timeout:.0f}s)", flush=True)
    with CrmClient(stack.crm.base_url, stack.crm.api_key, max_attempts=1) as client:
        found = wait_for(client, expected, timeout, stop)
    return render(found)
