"""WooCommerce, Salla and Paymob end to end: signed POSTs to a real `adapter serve`, a real
`adapter worker`, real Redis, and the CRM sandbox over HTTP."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter import samples, signing
from tests.support.processes import Process, adapter_command, free_port
from tests.support.waiting import wait_until
from tests.workers.live import Crm, Sandbox, Workers, worker_env

WC_SECRET = "wc-e2e-secret"
SALLA_TOKEN = "salla-e2e-token"
PAYMOB_SECRET = "paymob-e2e-secret"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    server = Sandbox(tmp_path_factory.mktemp("sandbox"), rate_limit=120).start()
    yield server
    server.stop()


@pytest.fixture
def crm(sandbox_server: Sandbox) -> Iterator[Crm]:
    sandbox_server.reset()
    view = Crm(sandbox_server, sandbox_server.new_org()["api_key"])
    yield view
    view.close()


@pytest.fixture
def env(redis_url: str, crm: Crm) -> dict[str, str]:
    return worker_env(
        redis_url,
        crm,
        ADAPTER_CONFIG="",
        WOOCOMMERCE_WEBHOOK_SECRETS=WC_SECRET,
        SALLA_WEBHOOK_TOKENS=SALLA_TOKEN,
        PAYMOB_HMAC_SECRETS=PAYMOB_SECRET,
    )


@pytest.fixture
def adapter_url(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    argv = adapter_command("serve", "--port", str(port))
    server = Process(argv, port, env=env, log_path=tmp_path / "serve.log").start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def worker(tmp_path: Path, env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(tmp_path, env)
    pool.start()
    yield pool
    pool.stop()


def post_woocommerce(http: httpx.Client, topic: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = signing.woocommerce_headers(body, WC_SECRET, topic)
    response = http.post("/webhooks/woocommerce/riyadh-oud", content=body, headers=headers)
    assert response.status_code == 202, response.text


def post_salla(http: httpx.Client, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    response = http.post(
        "/webhooks/salla", content=body, headers=signing.salla_token_headers(SALLA_TOKEN)
    )
    assert response.status_code == 202, response.text


def post_paymob(http: httpx.Client, payload: dict[str, Any]) -> None:
    digest = signing.paymob_hmac(payload["obj"], PAYMOB_SECRET)
    response = http.post("/webhooks/paymob/4097558", params={"hmac": digest}, json=payload)
    assert response.status_code == 202, response.text


@pytest.mark.usefixtures("worker")
def test_store_deliveries_become_deals_and_a_lead_in_the_sandbox(
    adapter_url: str, crm: Crm
) -> None:
    order = samples.load_sample("woocommerce", "order.created")
    completed = {
        **copy.deepcopy(order),
        "status": "completed",
        "date_modified_gmt": "2026-11-29T08:00:00",
    }
    salla_order = samples.load_sample("salla", "order.created")
    cart = samples.load_sample("salla", "abandoned.cart")
    paid = samples.load_sample("paymob")
    with httpx.Client(base_url=adapter_url, timeout=10) as http:
        post_woocommerce(http, "order.created", order)
        post_woocommerce(http, "order.updated", completed)
        post_salla(http, salla_order)
        post_salla(http, cart)
        post_paymob(http, paid)

    expected = {
        "woocommerce:riyadh-oud:order:4750": ("won", 485, "SAR", "+966501234567"),
        "salla:1305146709:order:2116149737": ("qualified", 201.5, "SAR", "+966501234567"),
        "salla:1305146709:cart:1097962121": ("new", 350, "SAR", "+966551234567"),
        "paymob:order:217503754": ("won", 1000, "EGP", "+201012345678"),
    }

    def arrived() -> dict[str, Any] | None:
        deals = crm.deals_by_external_id()
        return deals if set(expected) <= set(deals) else None

    deals = wait_until(arrived, timeout=60, message="the four deals in the sandbox")
    assert deals is not None
    for external_id, (stage, value, currency, phone) in expected.items():
        [deal] = deals[external_id]
        assert (deal.stage, float(deal.value or 0), deal.currency) == (stage, value, currency)
        contact = next(c for c in crm.contacts() if c.id == deal.contact_id)
        assert phone in (contact.phones or [])
    # the order.updated (completed) is the one that stays: newer date_modified_gmt
    wc = deals["woocommerce:riyadh-oud:order:4750"][0]
    assert wc.custom_fields is not None
    assert wc.custom_fields["order_status"] == "completed"


@pytest.mark.usefixtures("worker")
def test_store_sales_without_email_reach_the_customers_and_the_guest_contact(
    adapter_url: str, crm: Crm
) -> None:
    customer = {"id": 118, "first_name": "عمر", "last_name": "السيد", "billing": {"country": "EG"}}
    order = samples.load_sample("woocommerce", "order.created")
    order.update(billing={"first_name": "عمر"}, shipping={}, customer_id=118)
    paid = samples.load_sample("paymob")
    paid["obj"]["order"]["shipping_data"] = {"email": "NA", "phone_number": "NA"}
    paid["obj"]["payment_key_claims"] = {}
    with httpx.Client(base_url=adapter_url, timeout=10) as http:
        post_woocommerce(http, "customer.created", customer)
        post_woocommerce(http, "order.created", order)
        post_paymob(http, paid)

    wanted = {"woocommerce:riyadh-oud:order:4750", "paymob:order:217503754"}

    def arrived() -> dict[str, Any] | None:
        deals = crm.deals_by_external_id()
        return deals if wanted <= set(deals) else None

    deals = wait_until(arrived, timeout=60, message="the two deals in the sandbox")
    assert deals is not None
    contacts = {c.id: c for c in crm.contacts()}
    [wc] = deals["woocommerce:riyadh-oud:order:4750"]
    assert contacts[wc.contact_id].last_name == "السيد"
    [paymob] = deals["paymob:order:217503754"]
    assert "guest" in (paymob.tags or [])
    assert not contacts[paymob.contact_id].emails
