"""Order lifecycles at bulk efficiency (issue #12), end to end: redis-server with AOF,
`adapter serve` receiving signed Shopify webhooks over HTTP, `adapter worker`
processes and the CRM sandbox (`adapter sandbox`), all separate processes on 127.0.0.1.

What was sent is read from the sandbox's request log (`GET /_sandbox/requests`), and
what the CRM holds from its API, read only once the work is drained (the backlog in
Redis is empty), so that the test's own reads are never among what it counts. Timing
is controlled without sleeps: webhooks posted while no worker runs wait in the
ledger, and their commands coalesce in the outbox once a worker starts; every wait is
on a condition with a deadline.

The same properties, in-process against a fake CRM, are in test_delivery.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from adapter.signing import shopify_headers
from tests.chaos.compare import DEAL_FIELDS, crm_client, read_all
from tests.chaos.stack import API_KEY, Stack
from tests.chaos.workload import SHOP, SHOPIFY_SECRET, T0
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

DEADLINE = 60.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path, {}).start(workers=0)
    yield running
    running.stop()


def external_id(n: int) -> str:
    return f"shopify:{SHOP}:order:{order_id(n)}"


def order_id(n: int) -> int:
    return 7_100_000_000 + n


def order(
    n: int,
    step: int,
    financial: str = "pending",
    fulfillment: str | None = None,
    total: str = "40.00",
) -> bytes:
    """Order n as Shopify sends it at `step` (its `updated_at` a minute per step)."""
    email = f"lifecycle-{n}@example.com"
    body = {
        "id": order_id(n),
        "order_number": 2000 + n,
        "name": f"#{2000 + n}",
        "email": email,
        "currency": "EUR",
        "total_price": total,
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "tags": "web",
        "created_at": T0.isoformat(),
        "updated_at": (T0 + timedelta(minutes=step)).isoformat(),
        "customer": {"first_name": "Life", "last_name": f"Cycle {n}", "email": email},
        "line_items": [{"name": "Mug", "sku": "MUG-1", "quantity": 2, "price": "20.00"}],
    }
    return json.dumps(body).encode()


def post(stack: Stack, topic: str, body: bytes, webhook_id: str) -> None:
    headers = shopify_headers(body, SHOPIFY_SECRET, topic, SHOP, webhook_id=webhook_id)
    response = httpx.post(stack.web_url + "/webhooks/shopify", content=body, headers=headers)
    assert response.status_code == 202, response.text


def deals(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    with crm_client(stack.crm_url, API_KEY) as http:
        rows = read_all(http, "deals", DEAL_FIELDS + ",tags,updated_at")
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(str((row.get("custom_fields") or {}).get("external_id")), []).append(row)
    return found


def the_deal(stack: Stack, n: int) -> dict[str, Any]:
    [deal] = deals(stack)[external_id(n)]
    return deal


def requests_after(stack: Stack, mark: int, until: int | None = None) -> list[dict[str, Any]]:
    """The CRM requests the sandbox logged after request number `mark` (up to `until`)."""
    logged: list[dict[str, Any]] = stack.control("GET", f"/_sandbox/requests?after={mark}")[
        "requests"
    ]
    return [r for r in logged if until is None or r["n"] <= until]


def mark(stack: Stack) -> int:
    logged = requests_after(stack, 0)
    return int(logged[-1]["n"]) if logged else 0


def to_deals(logged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in logged if r["path"] in ("/rest-api-proxy/deals", "/create-deals-bulk")]


def wait_drained(stack: Stack) -> None:
    wait_until(stack.drained, timeout=DEADLINE, interval=0.1, message="drained")


def wait_for(stack: Stack, n: int, **fields: Any) -> dict[str, Any]:
    """Order n's deal once its custom_fields (or columns) hold `fields`."""

    def there() -> dict[str, Any] | None:
        found = deals(stack).get(external_id(n), [])
        if len(found) != 1:
            return None
        deal = found[0]
        merged = {**deal, **(deal.get("custom_fields") or {})}
        return deal if all(merged.get(k) == v for k, v in fields.items()) else None

    return wait_until(there, timeout=DEADLINE, interval=0.1, message=f"order {n} with {fields}")


def test_a_persons_edit_between_our_updates_survives(stack: Stack) -> None:
    stack.add_worker()
    post(stack, "orders/create", order(1, 0), "wh-1-0")
    post(stack, "orders/paid", order(1, 1, "paid"), "wh-1-1")
    deal = wait_for(stack, 1, financial_status="paid", stage="won")
    wait_drained(stack)

    # a person adds a note and a tag in the CRM, through its API
    edited = {**deal["custom_fields"], "call_back": "Tuesday"}
    with crm_client(stack.crm_url, API_KEY) as http:
        http.patch(
            "rest-api-proxy/deals",
            params={"id": f"eq.{deal['id']}"},
            json={"custom_fields": edited, "tags": [*(deal.get("tags") or []), "vip"]},
        ).raise_for_status()
    before = mark(stack)

    post(stack, "orders/fulfilled", order(1, 2, "paid", "fulfilled"), "wh-1-2")
    wait_drained(stack)
    after = mark(stack)
    deal = the_deal(stack, 1)
    assert deal["custom_fields"]["fulfillment_status"] == "fulfilled"
    assert deal["custom_fields"]["call_back"] == "Tuesday"
    assert deal["custom_fields"]["financial_status"] == "paid"
    assert "vip" in deal["tags"]
    # the guarded PATCH matched no row; the deal was read, merged and written again
    sent = [(r["method"], r["query"]) for r in to_deals(requests_after(stack, before, after))]
    assert [method for method, _ in sent] == ["PATCH", "GET", "PATCH"], sent
    assert "updated_at=eq." in sent[0][1]


def test_a_coalesced_create_and_its_updates_are_one_row_in_one_bulk_request(
    stack: Stack,
) -> None:
    # no worker yet: the webhooks wait, and their commands merge in the outbox
    post(stack, "orders/create", order(2, 0), "wh-2-0")
    post(stack, "orders/paid", order(2, 1, "paid"), "wh-2-1")
    post(stack, "orders/updated", order(2, 2, "paid", total="45.00"), "wh-2-2")
    post(stack, "orders/fulfilled", order(2, 3, "paid", "fulfilled", "45.00"), "wh-2-3")
    stack.add_worker()
    wait_drained(stack)
    sent = to_deals(requests_after(stack, 0, mark(stack)))

    deal = the_deal(stack, 2)
    assert (deal["stage"], float(deal["value"])) == ("won", 45.0)
    assert deal["custom_fields"]["financial_status"] == "paid"
    assert deal["custom_fields"]["fulfillment_status"] == "fulfilled"
    bulk = [r for r in sent if r["path"] == "/create-deals-bulk"]
    assert [r["rows"] for r in bulk] == [1]
    assert [r for r in sent if r["method"] == "PATCH"] == []


def test_an_older_update_never_wins_while_pending(stack: Stack) -> None:
    post(stack, "orders/create", order(3, 0), "wh-3-0")
    post(stack, "orders/paid", order(3, 2, "paid", total="45.00"), "wh-3-2")
    # an older orders/updated, delivered late, while the newer one still waits
    post(stack, "orders/updated", order(3, 1, "pending", total="1.00"), "wh-3-1")
    stack.add_worker()
    wait_drained(stack)
    sent = to_deals(requests_after(stack, 0, mark(stack)))

    deal = the_deal(stack, 3)
    assert (deal["stage"], float(deal["value"])) == ("won", 45.0)
    assert deal["custom_fields"]["financial_status"] == "paid"
    assert [r for r in sent if r["method"] == "PATCH"] == []


def test_an_older_update_never_wins_once_sent(stack: Stack) -> None:
    stack.add_worker()
    post(stack, "orders/create", order(4, 0), "wh-4-0")
    post(stack, "orders/paid", order(4, 2, "paid", total="45.00"), "wh-4-2")
    wait_for(stack, 4, financial_status="paid")
    wait_drained(stack)
    before = mark(stack)

    post(stack, "orders/updated", order(4, 1, "pending", total="1.00"), "wh-4-1")
    wait_drained(stack)
    assert requests_after(stack, before) == []
    deal = the_deal(stack, 4)
    assert (deal["stage"], float(deal["value"])) == ("won", 45.0)


def test_a_no_op_update_sends_nothing(stack: Stack) -> None:
    stack.add_worker()
    post(stack, "orders/create", order(5, 0), "wh-5-0")
    wait_for(stack, 5, financial_status="pending")
    wait_drained(stack)
    before = mark(stack)

    # newer, and nothing the CRM shows is different
    post(stack, "orders/updated", order(5, 1), "wh-5-1")
    wait_drained(stack)
    assert requests_after(stack, before) == []


def test_identical_stage_changes_go_out_as_one_patch(stack: Stack) -> None:
    orders = range(10, 30)  # 20: one take batch
    first = stack.add_worker()
    for n in orders:
        post(stack, "orders/create", order(n, 0), f"wh-{n}-0")
    wait_until(
        lambda: all(len(deals(stack).get(external_id(n), [])) == 1 for n in orders),
        timeout=DEADLINE,
        interval=0.2,
        message="every order in the CRM",
    )
    wait_drained(stack)
    first.stop()
    before = mark(stack)

    # the shop's mapping is fixed (pending orders are `qualified`) and Shopify sends
    # each order again: every deal gets the same change, its stage, and nothing else
    for n in orders:
        post(stack, "orders/updated", order(n, 1), f"wh-{n}-1")
    mapping = {"shopify": {"financial_status_stages": {"pending": "qualified"}}}
    stack.add_worker(MAPPING=json.dumps(mapping), BATCH_LINGER_SECONDS="2")
    wait_drained(stack)
    sent = to_deals(requests_after(stack, before, mark(stack)))
    assert all(the_deal(stack, n)["stage"] == "qualified" for n in orders)
    assert [r["method"] for r in sent] == ["PATCH"], sent
    query = unquote(sent[0]["query"])
    assert query.startswith("id=in.(") or "&id=in.(" in query, query
    assert len(query.split("in.(")[1].split(")")[0].split(",")) == len(orders)
