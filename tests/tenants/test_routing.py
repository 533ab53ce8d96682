"""Routing deliveries to tenants, and what each tenant keeps to itself: in-process
workers against the sandbox over loopback HTTP, with two organisations."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapter.cli.status import format_text
from adapter.crm.client import Backoff, CrmClient
from adapter.ops.collector import exposition
from adapter.ops.state import Reader
from adapter.settings import Settings
from adapter.tenants import DEFAULT_TENANT, Router, TenantConfig, store_of
from adapter.webhook import WebhookDelivery
from crm_sandbox.app import create_app
from crm_sandbox.server import ThreadedServer
from tests.support.processes import free_port
from tests.support.waiting import wait_until
from tests.workers.commands import SHOP, order_id, upsert_deal
from workers import intake
from workers.context import Context, Options, UnknownTenant
from workers.flush import flush
from workers.outbox import Kind
from workers.status import key_refused

KEY_DEFAULT, KEY_A = "cg_default_org", "cg_tenant_a"


def tenant(url: str = "http://127.0.0.1:1/functions/v1", **stores: Any) -> TenantConfig:
    return TenantConfig(crm_base_url=url, crm_api_key="k", **stores)


# -- the router ---------------------------------------------------------------------


def test_each_source_routes_by_its_own_store() -> None:
    router = Router(
        {
            "a": tenant(shopify_shops=["Acme.myshopify.com"], woocommerce_stores=["acme-wc"]),
            "b": tenant(salla_merchants=["1305146709"], paymob_integrations=["4097558"]),
            "c": tenant(stripe_accounts=["acct_1"], forms=["contact"]),
        }
    )
    assert router.tenant_of("shopify", "acme.myshopify.com") == "a"
    assert router.tenant_of("woocommerce", "acme-wc") == "a"
    assert router.tenant_of("salla", "1305146709") == "b"
    assert router.tenant_of("paymob", "4097558") == "b"
    assert router.tenant_of("stripe", "acct_1") == "c"
    assert router.tenant_of("form", "contact") == "c"


def test_a_store_nobody_claims_feeds_the_default_tenant() -> None:
    router = Router({"a": tenant(woocommerce_stores=["acme-wc"])})
    assert router.tenant_of("woocommerce", "other") == DEFAULT_TENANT
    assert router.tenant_of("woocommerce", None) == DEFAULT_TENANT
    # a store id of one source is not a store of another
    assert router.tenant_of("paymob", "acme-wc") == DEFAULT_TENANT


def test_a_stripe_event_belongs_to_its_connect_account() -> None:
    assert store_of("stripe", None, None, {"account": "acct_9"}) == "acct_9"
    assert store_of("stripe", None, None, {"id": "evt_1"}) is None
    assert store_of("form", None, "contact", {}) == "contact"
    assert store_of("salla", "1305146709", None, {}) == "1305146709"


# -- workers, two organisations --------------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[ThreadedServer]:
    app = create_app(api_keys=[KEY_DEFAULT], rate_limit=0, dev_key=False)
    app.state.sandbox.create_org("tenant-a", KEY_A)
    server = ThreadedServer(app, port=free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def ctx(redis_url: str, sandbox: ThreadedServer) -> Iterator[Context]:
    settings = Settings(
        redis_url=redis_url,
        crm_base_url=sandbox.base_url,
        crm_api_key=KEY_DEFAULT,
        tenants={
            "acme": {
                "crm_base_url": sandbox.base_url,
                "crm_api_key": KEY_A,
                "crm_max_in_flight": 2,
                "shopify_shops": [SHOP],
            }
        },
    )
    options = Options(linger=0.0, lease=5.0, backoff=Backoff(base=0.05, cap=0.2), key_probe=0.3)
    context = Context(settings, options)
    yield context
    context.close()


def delivery(n: int, shop: str = SHOP) -> dict[str, Any]:
    order = {
        "id": n,
        "name": f"#{n}",
        "order_number": n,
        "email": f"buyer{n}@example.com",
        "total_price": "10.00",
        "currency": "SAR",
        "financial_status": "paid",
        "updated_at": "2026-11-01T12:00:00Z",
        "line_items": [],
    }
    return WebhookDelivery(
        source="shopify",
        topic="orders/create",
        delivery_id=f"d-{shop}-{n}",
        received_at=datetime.now(UTC),
        shop_domain=shop,
        payload=order,
    ).model_dump(mode="json")


def drain(ctx: Context) -> None:
    def empty() -> bool:
        for kind in Kind:
            flush(ctx, kind, budget=1.0)
        return ctx.outbox.size() == 0

    wait_until(empty, timeout=20, interval=0.05)


def org_deals(sandbox: ThreadedServer, key: str) -> list[str]:
    with CrmClient(sandbox.base_url, key, max_attempts=1) as client:
        return [str((d.custom_fields or {}).get("external_id")) for d in client.list_deals({})]


def test_a_tenant_context_has_its_own_key_limits_and_namespace(ctx: Context) -> None:
    acme = ctx.for_tenant("acme")
    assert ctx.for_tenant(DEFAULT_TENANT) is ctx
    assert acme is ctx.for_tenant("acme")
    assert acme.settings.crm_api_key.get_secret_value() == KEY_A
    assert (acme.settings.crm_max_in_flight, ctx.settings.crm_max_in_flight) == (2, 5)
    assert acme.limiter.keys != ctx.limiter.keys
    assert acme.idmap.key("x") == "tenant:acme:idmap:x"
    assert ctx.idmap.key("x") == "idmap:x"
    with pytest.raises(UnknownTenant):
        ctx.for_tenant("gone")


def test_a_delivery_is_queued_in_its_tenants_outbox_only(ctx: Context) -> None:
    outcome = intake.accept_delivery(ctx, delivery(1))
    assert outcome.tenant == "acme"
    assert ctx.for_tenant("acme").outbox.size() > 0
    assert ctx.outbox.size() == 0
    other = intake.accept_delivery(ctx, delivery(2, shop="elsewhere.myshopify.com"))
    assert other.tenant == DEFAULT_TENANT
    assert ctx.outbox.size() > 0


def test_each_tenants_records_reach_its_own_organisation_only(
    ctx: Context, sandbox: ThreadedServer
) -> None:
    intake.accept_delivery(ctx, delivery(1))
    intake.accept_delivery(ctx, delivery(2, shop="elsewhere.myshopify.com"))
    for view in ctx.all_tenants():
        drain(view)
    assert org_deals(sandbox, KEY_A) == [f"shopify:{SHOP}:order:1"]
    assert org_deals(sandbox, KEY_DEFAULT) == ["shopify:elsewhere.myshopify.com:order:2"]
    # the key each request carried reached only its own organisation
    orgs = sandbox.app.state.sandbox.stats.to_json()["orgs"]
    org_a = sandbox.app.state.sandbox.org_for_key(KEY_A)
    assert set(orgs) == {org_a, sandbox.app.state.sandbox.org_for_key(KEY_DEFAULT)}


def test_the_id_map_of_one_tenant_is_invisible_to_another(ctx: Context) -> None:
    acme = ctx.for_tenant("acme")
    acme.idmap.record(order_id(1), deal_id="deal-of-acme", contact_id="contact-of-acme")
    assert acme.idmap.get(order_id(1)).deal_id == "deal-of-acme"
    assert ctx.idmap.get(order_id(1)).deal_id is None


def test_a_refused_key_pauses_its_tenant_keeps_its_entries_and_spares_the_others(
    ctx: Context, sandbox: ThreadedServer
) -> None:
    acme = ctx.for_tenant("acme")
    crm = sandbox.app.state.sandbox
    org_a = crm.revoke_key(KEY_A)
    intake.queue_commands(acme, [upsert_deal(1)])
    intake.queue_commands(ctx, [upsert_deal(2)])

    flush(acme, Kind.DEALS, budget=1.0)
    drain(ctx)

    refused = key_refused(ctx.redis, acme.ns)
    assert refused is not None
    assert refused["status"] == 401
    assert acme.limiter.paused_for() > 0
    assert acme.outbox.size() == 1
    assert ctx.deadletters.count() == 0
    assert org_deals(sandbox, KEY_DEFAULT) == [order_id(2)]

    crm.add_key(org_a, KEY_A)
    drain(acme)
    assert org_deals(sandbox, KEY_A) == [order_id(1)]
    assert key_refused(ctx.redis, acme.ns) is None


def test_status_metrics_and_readiness_name_the_tenant_whose_key_is_refused(
    ctx: Context, sandbox: ThreadedServer
) -> None:
    acme = ctx.for_tenant("acme")
    sandbox.app.state.sandbox.revoke_key(KEY_A)
    intake.queue_commands(acme, [upsert_deal(1)])
    flush(acme, Kind.DEALS, budget=1.0)

    reader = Reader(ctx.settings, ctx.redis, ctx.rq_redis)
    snapshot = reader.snapshot()
    states = {t.name: t for t in snapshot.tenants}
    assert set(states) == {DEFAULT_TENANT, "acme"}
    assert states["acme"].key_refused is not None
    assert states["acme"].outbox_total == 1
    assert states[DEFAULT_TENANT].key_refused is None
    text = format_text(snapshot, {})
    assert "KEY REFUSED (401)" in text
    assert KEY_A not in text
    metrics_text = exposition(reader).decode()
    assert 'adapter_tenant_key_refused{tenant="acme"} 1.0' in metrics_text
    assert 'adapter_tenant_outbox_entries{tenant="acme"} 1.0' in metrics_text


class SilentCrm:
    """A CRM that takes connections and never answers (a hung server), on loopback;
    counts the connections it was sent."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/functions/v1"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                continue
            self.connections.append(connection)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self.listener.close()


def test_a_tenant_whose_crm_hangs_pauses_alone_and_spares_the_others(
    redis_url: str, sandbox: ThreadedServer
) -> None:
    silent = SilentCrm()
    settings = Settings(
        redis_url=redis_url,
        crm_base_url=sandbox.base_url,
        crm_api_key=KEY_DEFAULT,
        # every tenant's requests time out alike
        crm_timeout_seconds=0.5,
        tenants={
            "hung": {
                "crm_base_url": silent.base_url,
                "crm_api_key": KEY_A,
                "shopify_shops": [SHOP],
            }
        },
    )
    options = Options(linger=0.0, lease=5.0, backoff=Backoff(base=0.05, cap=0.2))
    ctx = Context(settings, options)
    try:
        hung = ctx.for_tenant("hung")
        intake.queue_commands(hung, [upsert_deal(1), upsert_deal(3)])
        intake.queue_commands(ctx, [upsert_deal(2)])

        flush(hung, Kind.DEALS, budget=1.0)  # one request, no answer: the tenant pauses
        sent = len(silent.connections)
        assert sent >= 1
        assert hung.limiter.paused_for() > 0
        # while it is paused, its flushes end at once and send nothing more
        flush(hung, Kind.DEALS, budget=1.0)
        assert len(silent.connections) == sent
        drain(ctx)
        assert org_deals(sandbox, KEY_DEFAULT) == [order_id(2)]
        assert hung.outbox.size() == 2  # waiting, not dead-lettered
        assert ctx.deadletters.count() == 0
    finally:
        ctx.close()
        silent.close()
