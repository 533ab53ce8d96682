"""The chaos comparison reports every kind of wrong state (so the chaos test can go red)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from tests.chaos.compare import compare
from tests.chaos.workload import Expected, ExpectedContact, ExpectedDeal, build

EXPECTED = Expected(
    deals={
        "shopify:s:order:1": ExpectedDeal("Order #1001", "won", Decimal("10.50"), "EGP", "a@x.io"),
        "form:contact:s-1": ExpectedDeal("Contact us: B", "new", Decimal(100), "EGP", "b@x.io"),
    },
    contacts={"a@x.io": ExpectedContact("Ada", "L"), "b@x.io": ExpectedContact()},
)


def good_state() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    contacts: list[dict[str, Any]] = [
        {"id": "c1", "first_name": "Ada", "last_name": "L", "emails": ["a@x.io"]},
        {"id": "c2", "first_name": None, "last_name": None, "emails": ["b@x.io"]},
    ]
    deals: list[dict[str, Any]] = [
        {
            "id": "d1",
            "title": "Order #1001",
            "value": 10.5,
            "currency": "EGP",
            "stage": "won",
            "contact_id": "c1",
            "custom_fields": {"external_id": "shopify:s:order:1"},
        },
        {
            "id": "d2",
            "title": "Contact us: B",
            "value": 100,
            "currency": "EGP",
            "stage": "new",
            "contact_id": "c2",
            "custom_fields": {"external_id": "form:contact:s-1"},
        },
    ]
    return deals, contacts


def test_the_expected_state_compares_clean() -> None:
    deals, contacts = good_state()
    deal_report, contact_report = compare(EXPECTED, deals, contacts)
    assert deal_report.clean
    assert contact_report.clean


def test_a_dropped_deal_is_reported_lost() -> None:
    deals, contacts = good_state()
    deal_report, _ = compare(EXPECTED, deals[1:], contacts)
    assert deal_report.lost == ["shopify:s:order:1"]
    assert not deal_report.clean


def test_a_copied_deal_is_reported_duplicated() -> None:
    deals, contacts = good_state()
    deal_report, _ = compare(EXPECTED, [*deals, {**copy.deepcopy(deals[0]), "id": "d9"}], contacts)
    assert deal_report.duplicated == {"shopify:s:order:1": 2}
    assert deal_report.extra_copies == 1


def test_an_older_stage_or_value_is_reported_wrong() -> None:
    deals, contacts = good_state()
    deals[0]["stage"] = "qualified"
    deals[1]["value"] = 99.99
    deal_report, _ = compare(EXPECTED, deals, contacts)
    assert len(deal_report.wrong) == 2


def test_a_deal_linked_to_another_contact_is_reported_wrong() -> None:
    deals, contacts = good_state()
    deals[0]["contact_id"] = "c2"
    deal_report, _ = compare(EXPECTED, deals, contacts)
    assert deal_report.wrong == ["shopify:s:order:1: not linked to the contact a@x.io"]


def test_a_record_nobody_sent_is_reported_unexpected() -> None:
    deals, contacts = good_state()
    stray = {**deals[0], "id": "d7", "custom_fields": {"external_id": "shopify:s:order:2"}}
    deal_report, _ = compare(EXPECTED, [*deals, stray], contacts)
    assert deal_report.unexpected == ["shopify:s:order:2"]


def test_lost_and_duplicated_contacts_are_reported() -> None:
    deals, contacts = good_state()
    twin = {**contacts[0], "id": "c3"}
    _, dropped = compare(EXPECTED, deals, contacts[1:])
    _, doubled = compare(EXPECTED, deals, [*contacts, twin])
    assert dropped.lost == ["a@x.io"]
    assert doubled.duplicated == {"a@x.io": 2}


def test_a_wrong_contact_name_is_reported_and_an_unchecked_one_is_not() -> None:
    deals, contacts = good_state()
    contacts[0]["first_name"] = "Eve"
    contacts[1]["first_name"] = "Anyone"
    _, report = compare(EXPECTED, deals, contacts)
    assert report.wrong == ["a@x.io: first_name expected 'Ada', found 'Eve'"]


def test_the_workload_sends_every_source_with_redeliveries_and_bursts() -> None:
    workload = build(3000, 0.2, seed=1)
    keys = [d.key for wave in workload.waves for d in wave]
    assert workload.total == len(keys) == 3000
    assert len(set(keys)) == workload.unique == 2400
    assert max(len(wave) for wave in workload.waves) >= 120
    paths = {d.path.partition("?")[0] for wave in workload.waves for d in wave}
    assert paths == {
        "/webhooks/shopify",
        "/webhooks/stripe",
        "/webhooks/forms/contact",
        "/webhooks/forms/demo",
        "/webhooks/woocommerce/chaos-woo",
        "/webhooks/salla",
        "/webhooks/paymob/4097001",
    }
    # some copies share a wave with their original: concurrent duplicates
    assert any(len({d.key for d in wave}) < len(wave) for wave in workload.waves)


def test_the_workload_delivers_updates_out_of_order() -> None:
    workload = build(3000, 0.2, seed=1)
    first_seen: dict[str, int] = {}
    for position, delivery in enumerate(d for wave in workload.waves for d in wave):
        first_seen.setdefault(delivery.key, position)

    def before(a: str, b: str) -> bool:
        return a in first_seen and b in first_seen and first_seen[a] < first_seen[b]

    orders = range(len([k for k in workload.expected.deals if ":order:" in k]))
    # an update before its order's create, and a newer delivery before an older update
    assert any(before(f"order-{n}-1", f"order-{n}-0") for n in orders)
    assert any(before(f"order-{n}-2", f"order-{n}-1") for n in orders)
