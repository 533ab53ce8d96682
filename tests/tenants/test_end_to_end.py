"""Two tenants, three stores, one revoked key: real redis-server, the sandbox over HTTP,
`adapter serve` and two `adapter worker` processes.

Tenant A (a Shopify shop and a WooCommerce store) and tenant B (a Salla merchant)
feed two organisations of one sandbox. A's key is revoked mid-run: B's deliveries
all land while A waits, and B's CRM answers every one of B's requests with a 2xx
(nothing of B was refused, retried or held back). A's key comes back: A's waiting
deliveries land, each exactly once, and every record is in its own organisation.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from adapter import samples, signing
from tests.support.processes import Process, adapter_command, free_port
from tests.support.waiting import wait_until
from tests.workers.live import Crm, Sandbox

pytestmark = pytest.mark.slow

SHOP = "acme-a.myshopify.com"
WOO = "acme-wc"
MERCHANT = "1305146709"
SHOPIFY_SECRET = "shp-secret"
WOO_SECRET = "wc-secret"
SALLA_SECRET = "salla-secret"
KEY_A, KEY_B, KEY_DEFAULT = "cg_tenant_a_key", "cg_tenant_b_key", "cg_default_key"


def config_text(base_url: str) -> str:
    return f"""
crm_base_url = "{base_url}"

[tenants.agency-a]
crm_base_url = "{base_url}"
crm_api_key = "{KEY_A}"
shopify_shops = ["{SHOP}"]
woocommerce_stores = ["{WOO}"]

[tenants.agency-b]
crm_base_url = "{base_url}"
crm_api_key = "{KEY_B}"
crm_rate_limit_per_minute = 600
salla_merchants = ["{MERCHANT}"]
"""


class Stack:
    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.sandbox = Sandbox(tmp_path, rate_limit=600).start()
        self.orgs = {
            name: self.sandbox.http.post(
                "/_sandbox/orgs", json={"name": name, "api_key": key}
            ).json()["org_id"]
            for name, key in (("a", KEY_A), ("b", KEY_B), ("default", KEY_DEFAULT))
        }
        config = tmp_path / "adapter.toml"
        config.write_text(config_text(self.sandbox.base_url))
        self.env = {
            "REDIS_URL": redis_url,
            "ADAPTER_CONFIG": str(config),
            "CRM_API_KEY": KEY_DEFAULT,
            "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
            "WOOCOMMERCE_WEBHOOK_SECRETS": WOO_SECRET,
            "SALLA_WEBHOOK_SECRETS": SALLA_SECRET,
            "CRM_TIMEOUT_SECONDS": "5",
            "BATCH_LINGER_SECONDS": "0.2",
            "ADAPTER_KEY_PROBE_SECONDS": "1",
            "ADAPTER_BACKOFF_BASE_SECONDS": "0.2",
            "ADAPTER_BACKOFF_CAP_SECONDS": "1",
            "LOG_LEVEL": "INFO",
        }
        port = free_port()
        self.serve = Process(
            adapter_command("serve", "--port", str(port)),
            port,
            env=self.env,
            log_path=tmp_path / "serve.log",
        ).start()
        self.web = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        self.workers = [
            Process(
                adapter_command("worker"), None, env=self.env, log_path=tmp_path / f"w{n}.log"
            ).start()
            for n in range(2)
        ]
        # the test reads each organisation with a key of its own, so that its reads
        # spend none of the adapter's rate limit (the sandbox counts per key)
        self.crm = {}
        for org, org_id in self.orgs.items():
            read_key = f"cg_test_reader_{org}"
            added = self.sandbox.http.post(
                f"/_sandbox/orgs/{org_id}/keys", json={"api_key": read_key}
            )
            added.raise_for_status()
            self.crm[org] = Crm(self.sandbox, read_key)

    def stop(self) -> None:
        for process in self.workers:
            process.stop()
        self.serve.stop()
        self.web.close()
        for crm in self.crm.values():
            crm.close()
        self.sandbox.stop()

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_path.glob("w*.log")))

    # -- deliveries -------------------------------------------------------------

    def post(self, path: str, headers: dict[str, str], body: bytes) -> None:
        response = self.web.post(path, headers=headers, content=body)
        assert response.status_code in (200, 202), response.text

    def shopify_order(self, n: int) -> str:
        order = samples.load_sample("shopify", "orders/create")
        order.update(id=7_000_000 + n, name=f"#A{n}", order_number=n, email=f"a{n}@shop.test")
        body = json.dumps(order).encode()
        headers = signing.shopify_headers(body, SHOPIFY_SECRET, "orders/create", SHOP)
        self.post("/webhooks/shopify", headers, body)
        return f"shopify:{SHOP}:order:{order['id']}"

    def woo_order(self, n: int) -> str:
        order = samples.load_sample("woocommerce", "order.created")
        order.update(id=8_000 + n, number=str(8_000 + n))
        order["billing"]["email"] = f"w{n}@woo.test"
        body = json.dumps(order).encode()
        headers = signing.woocommerce_headers(body, WOO_SECRET, "order.created")
        self.post(f"/webhooks/woocommerce/{WOO}", headers, body)
        return f"woocommerce:{WOO}:order:{order['id']}"

    def salla_order(self, n: int) -> str:
        envelope = samples.load_sample("salla", "order.created")
        envelope["data"].update(id=9_000_000 + n, reference_id=90_000 + n)
        envelope["data"]["customer"]["email"] = f"s{n}@salla.test"
        body = json.dumps(envelope).encode()
        self.post("/webhooks/salla", signing.salla_signature_headers(body, SALLA_SECRET), body)
        return f"salla:{MERCHANT}:order:{envelope['data']['id']}"

    # -- what the CRM holds -----------------------------------------------------

    def external_ids(self, org: str) -> list[str]:
        return [str((d.custom_fields or {}).get("external_id")) for d in self.crm[org].deals()]

    def org_statuses(self, org: str) -> dict[str, int]:
        """Answers the organisation gave, by status, over every path (the test's reads,
        all 200, included)."""
        found: dict[str, int] = {}
        requests: dict[str, dict[str, int]] = self.sandbox.stats()["orgs"].get(self.orgs[org], {})
        for codes in requests.values():
            for status, count in codes.items():
                found[status] = found.get(status, 0) + count
        return found


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    running = Stack(tmp_path, redis_url)
    yield running
    running.stop()


def landed(stack: Stack, org: str, wanted: set[str]) -> bool:
    return wanted <= set(stack.external_ids(org))


def wait_landed(stack: Stack, org: str, wanted: set[str], timeout: float, what: str) -> None:
    wait_until(lambda: landed(stack, org, wanted), timeout=timeout, interval=0.5, message=what)


def test_a_revoked_key_pauses_only_its_tenant_and_every_record_lands_once_in_its_org(
    stack: Stack, redis_url: str
) -> None:
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    first_a = {stack.shopify_order(n) for n in range(5)} | {stack.woo_order(n) for n in range(5)}
    first_b = {stack.salla_order(n) for n in range(5)}
    wait_landed(stack, "a", first_a, 60, "A's first wave")
    wait_landed(stack, "b", first_b, 60, "B's first wave")

    revoked = stack.sandbox.http.post("/_sandbox/keys/revoke", json={"api_key": KEY_A})
    assert revoked.status_code == 200
    second_a = {stack.shopify_order(n) for n in range(5, 25)}
    second_a |= {stack.woo_order(n) for n in range(5, 25)}
    second_b = {stack.salla_order(n) for n in range(5, 45)}

    wait_landed(stack, "b", second_b, 60, "B's second wave")
    # B landed in full while A still waits: A's key is refused, nothing of A's second
    # wave is in its CRM, and its commands wait in its outbox (none dead-lettered)
    wait_until(
        lambda: store.exists("tenant:agency-a:crm:status:key_refused"),
        timeout=30,
        message="tenant A marked as refused",
    )
    assert not set(stack.external_ids("a")) & second_a
    assert store.hlen("tenant:agency-a:outbox:deals:items") > 0
    assert store.zcard("deadletter:index") == 0
    assert set(stack.org_statuses("b")) <= {"200", "201", "204"}
    shown = subprocess.run(
        adapter_command("status"),
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    [row] = [line for line in shown.splitlines() if line.strip().startswith("agency-a")]
    assert "KEY REFUSED (401)" in row

    restored = stack.sandbox.http.post(
        f"/_sandbox/orgs/{stack.orgs['a']}/keys", json={"api_key": KEY_A}
    )
    assert restored.status_code == 201
    wait_landed(stack, "a", second_a, 90, "A's waiting deliveries")
    wait_until(
        lambda: not store.exists("tenant:agency-a:crm:status:key_refused"),
        timeout=30,
        message="tenant A resumed",
    )

    a_ids, b_ids = stack.external_ids("a"), stack.external_ids("b")
    assert sorted(a_ids) == sorted(first_a | second_a)  # each exactly once, A's only
    assert sorted(b_ids) == sorted(first_b | second_b)  # each exactly once, B's only
    assert stack.external_ids("default") == []
    # B's CRM never refused, failed or rate-limited one of B's requests
    assert set(stack.org_statuses("b")) <= {"200", "201", "204"}
    assert store.zcard("deadletter:index") == 0
    logs = stack.logs()
    assert "tenant agency-a: the CRM refused its API key (401)" in logs
    assert "tenant agency-a: the CRM accepts its API key again" in logs
    assert KEY_A not in logs
    assert KEY_B not in logs
    traced = subprocess.run(
        adapter_command("trace", sorted(first_b)[0]),
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "tenant: agency-b" in traced
    assert "outcome: delivered" in traced
    store.close()
