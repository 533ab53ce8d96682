"""WooCommerce, Salla and Paymob through the real app under uvicorn, on a real Redis."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from adapter import samples, signing
from adapter.cli import main
from tests.app.conftest import ROOT
from tests.support.ledger import stored_deliveries
from tests.support.processes import Process, free_port

WC_SECRETS = ("wc-secret-current", "wc-secret-previous")
WC_STORE_SECRET = "wc-riyadh-own"
SALLA_SECRETS = ("salla-secret-current", "salla-secret-previous")
SALLA_TOKENS = ("salla-token-current", "salla-token-previous")
PAYMOB_SECRETS = ("paymob-hmac-current", "paymob-hmac-previous")

CONFIG = f"""
[woocommerce_stores.riyadh-oud]
secrets = ["{WC_STORE_SECRET}"]
"""

WC_ORDER = json.dumps(samples.load_sample("woocommerce", "order.created")).encode()
SALLA_ORDER = json.dumps(samples.load_sample("salla", "order.created"), ensure_ascii=False).encode()


@pytest.fixture(scope="module")
def server(redis_process: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("stores")
    config = workdir / "adapter.toml"
    config.write_text(CONFIG)
    port = free_port()
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{redis_process.port}/0",
        "ADAPTER_CONFIG": str(config),
        "WOOCOMMERCE_WEBHOOK_SECRETS": ",".join(WC_SECRETS),
        "SALLA_WEBHOOK_SECRETS": ",".join(SALLA_SECRETS),
        "SALLA_WEBHOOK_TOKENS": ",".join(SALLA_TOKENS),
        "PAYMOB_HMAC_SECRETS": ",".join(PAYMOB_SECRETS),
    }
    argv = [sys.executable, "-m", "uvicorn", "tests.app.real_factory:create", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    process = Process(argv, port, env=env, log_path=workdir / "server.log", cwd=ROOT).start()
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture
def http(server: str, redis_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10) as client:
        yield client


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def queued(store: redis.Redis) -> list[dict[str, Any]]:
    return stored_deliveries(store)


def wc_headers(
    body: bytes, secret: str = WC_SECRETS[0], topic: str = "order.created"
) -> dict[str, str]:
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Signature": signature.decode(),
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Source": "https://riyadh-oud.example.sa/",
        "X-WC-Webhook-ID": "3",
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }


def salla_headers(body: bytes, secret: str = SALLA_SECRETS[0]) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Salla-Security-Strategy": "Signature",
        "X-Salla-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def paymob_callback(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(samples.load_sample("paymob"))
    payload["obj"].update(changes)
    return payload


def paymob_hmac(payload: dict[str, Any], secret: str = PAYMOB_SECRETS[0]) -> str:
    # adapter.signing mirrors Paymob's scheme without sharing code with the verifier;
    # tests/sources/test_paymob.py checks both against Paymob's documented example
    return signing.paymob_hmac(payload["obj"], secret)


# --- WooCommerce -------------------------------------------------------------


@pytest.mark.parametrize("secret", [*WC_SECRETS, WC_STORE_SECRET])
def test_woocommerce_order_is_queued_under_any_configured_secret(
    http: httpx.Client, store: redis.Redis, secret: str
) -> None:
    response = http.post(
        "/webhooks/woocommerce/riyadh-oud", content=WC_ORDER, headers=wc_headers(WC_ORDER, secret)
    )
    assert (response.status_code, response.json()) == (202, {"status": "queued"})
    [delivery] = queued(store)
    assert (delivery["source"], delivery["topic"]) == ("woocommerce", "order.created")
    assert delivery["shop_domain"] == "riyadh-oud"
    assert delivery["payload"]["id"] == 4750
    assert "X-WC-Webhook-Signature" not in delivery["headers"]


def test_woocommerce_store_secret_is_refused_for_another_store(http: httpx.Client) -> None:
    headers = wc_headers(WC_ORDER, WC_STORE_SECRET)
    response = http.post("/webhooks/woocommerce/jeddah-shop", content=WC_ORDER, headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"X-WC-Webhook-Signature": "AAAA"},
        {"X-WC-Webhook-Signature": ""},
        {"X-WC-Webhook-Topic": "order.created"},
        {"X-WC-Webhook-Signature": base64.b64encode(b"x" * 32).decode()},
    ],
    ids=["garbage", "empty", "missing", "wrong"],
)
def test_woocommerce_bad_signature_is_401(
    http: httpx.Client, store: redis.Redis, headers: dict[str, str]
) -> None:
    response = http.post("/webhooks/woocommerce/riyadh-oud", content=WC_ORDER, headers=headers)
    assert response.status_code == 401
    assert queued(store) == []


def test_woocommerce_creation_ping_is_200_and_stores_nothing(
    http: httpx.Client, store: redis.Redis
) -> None:
    response = http.post(
        "/webhooks/woocommerce/riyadh-oud",
        content=b"webhook_id=3",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (response.status_code, response.json()) == (200, {"status": "ping"})
    assert store.dbsize() == 0


def test_woocommerce_redelivery_is_duplicate(http: httpx.Client, store: redis.Redis) -> None:
    headers = wc_headers(WC_ORDER)
    first = http.post("/webhooks/woocommerce/riyadh-oud", content=WC_ORDER, headers=headers)
    again = http.post("/webhooks/woocommerce/riyadh-oud", content=WC_ORDER, headers=headers)
    assert first.status_code == 202
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert len(queued(store)) == 1


def test_woocommerce_unhandled_topic_is_200_ignored_never_4xx(
    http: httpx.Client, store: redis.Redis
) -> None:
    headers = wc_headers(WC_ORDER, topic="product.updated")
    response = http.post("/webhooks/woocommerce/riyadh-oud", content=WC_ORDER, headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert queued(store) == []


def test_woocommerce_signed_body_that_is_not_json_is_queued_not_refused(
    http: httpx.Client, store: redis.Redis
) -> None:
    body = b"<html>not json</html>"
    response = http.post("/webhooks/woocommerce/riyadh-oud", content=body, headers=wc_headers(body))
    assert response.status_code == 202
    [delivery] = queued(store)
    assert delivery["payload"] == {"unreadable_body": "<html>not json</html>"}


@pytest.mark.parametrize("store_name", ["-x", "a" * 101, "sp ace"])
def test_woocommerce_unusable_store_name_is_404(http: httpx.Client, store_name: str) -> None:
    response = http.post(
        f"/webhooks/woocommerce/{store_name}", content=WC_ORDER, headers=wc_headers(WC_ORDER)
    )
    assert response.status_code == 404


# --- Salla ---------------------------------------------------------------------


@pytest.mark.parametrize("secret", SALLA_SECRETS)
def test_salla_signed_order_is_queued_under_either_secret(
    http: httpx.Client, store: redis.Redis, secret: str
) -> None:
    response = http.post(
        "/webhooks/salla", content=SALLA_ORDER, headers=salla_headers(SALLA_ORDER, secret)
    )
    assert (response.status_code, response.json()) == (202, {"status": "queued"})
    [delivery] = queued(store)
    assert (delivery["source"], delivery["topic"], delivery["shop_domain"]) == (
        "salla",
        "order.created",
        "1305146709",
    )
    assert delivery["payload"]["data"]["customer"]["first_name"] == "خالد"


@pytest.mark.parametrize("token", SALLA_TOKENS)
def test_salla_token_strategy_is_queued_under_either_token(http: httpx.Client, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Salla-Security-Strategy": "Token"}
    response = http.post("/webhooks/salla", content=SALLA_ORDER, headers=headers)
    assert response.status_code == 202


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Salla-Signature": "0" * 64},
        {"X-Salla-Signature": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": ""},
        {"X-Salla-Security-Strategy": "Signature"},
    ],
    ids=["wrong-signature", "empty-signature", "wrong-token", "empty-token", "missing"],
)
def test_salla_bad_proof_is_401(
    http: httpx.Client, store: redis.Redis, headers: dict[str, str]
) -> None:
    response = http.post("/webhooks/salla", content=SALLA_ORDER, headers=headers)
    assert response.status_code == 401
    assert queued(store) == []


def test_salla_retry_of_the_same_body_is_duplicate(http: httpx.Client) -> None:
    first = http.post("/webhooks/salla", content=SALLA_ORDER, headers=salla_headers(SALLA_ORDER))
    again = http.post("/webhooks/salla", content=SALLA_ORDER, headers=salla_headers(SALLA_ORDER))
    assert first.status_code == 202
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})


def test_salla_unhandled_event_is_200_ignored(http: httpx.Client, store: redis.Redis) -> None:
    body = b'{"event": "app.installed", "merchant": 1305146709, "data": {}}'
    response = http.post("/webhooks/salla", content=body, headers=salla_headers(body))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert queued(store) == []


def test_salla_bad_signature_on_a_non_json_body_is_401_not_400(http: httpx.Client) -> None:
    response = http.post(
        "/webhooks/salla", content=b"not json", headers={"X-Salla-Signature": "0" * 64}
    )
    assert response.status_code == 401


# --- Paymob --------------------------------------------------------------------


@pytest.mark.parametrize("secret", PAYMOB_SECRETS)
def test_paymob_transaction_is_queued_under_either_secret(
    http: httpx.Client, store: redis.Redis, secret: str
) -> None:
    payload = paymob_callback()
    response = http.post(
        "/webhooks/paymob/4097558",
        params={"hmac": paymob_hmac(payload, secret)},
        json=payload,
    )
    assert (response.status_code, response.json()) == (202, {"status": "queued"})
    [delivery] = queued(store)
    assert (delivery["source"], delivery["topic"], delivery["shop_domain"]) == (
        "paymob",
        "TRANSACTION",
        "4097558",
    )


@pytest.mark.parametrize(
    "params",
    [{}, {"hmac": ""}, {"hmac": "0" * 128}, {"hmac": "not-hex"}],
    ids=["missing", "empty", "wrong", "malformed"],
)
def test_paymob_bad_hmac_is_401(
    http: httpx.Client, store: redis.Redis, params: dict[str, str]
) -> None:
    response = http.post("/webhooks/paymob/4097558", params=params, json=paymob_callback())
    assert response.status_code == 401
    assert queued(store) == []


def test_paymob_tampered_amount_is_401(http: httpx.Client) -> None:
    payload = paymob_callback()
    digest = paymob_hmac(payload)
    payload["obj"]["amount_cents"] = 1
    response = http.post("/webhooks/paymob/4097558", params={"hmac": digest}, json=payload)
    assert response.status_code == 401


def test_paymob_same_callback_twice_is_duplicate_but_a_new_state_is_not(
    http: httpx.Client, store: redis.Redis
) -> None:
    paid = paymob_callback()
    refunded = paymob_callback(is_refunded=True, refunded_amount_cents=100000)
    first = http.post("/webhooks/paymob/4097558", params={"hmac": paymob_hmac(paid)}, json=paid)
    again = http.post("/webhooks/paymob/4097558", params={"hmac": paymob_hmac(paid)}, json=paid)
    later = http.post(
        "/webhooks/paymob/4097558", params={"hmac": paymob_hmac(refunded)}, json=refunded
    )
    assert first.status_code == 202
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert later.status_code == 202
    assert len(queued(store)) == 2


def test_paymob_redirect_callback_get_is_not_served(http: httpx.Client) -> None:
    assert http.get("/webhooks/paymob/4097558", params={"hmac": "0" * 128}).status_code == 405


# --- adapter send-test, verified by the real app --------------------------------


@pytest.fixture
def send_test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTER_CONFIG", "")
    monkeypatch.setenv("WOOCOMMERCE_WEBHOOK_SECRETS", WC_SECRETS[1])
    monkeypatch.setenv("SALLA_WEBHOOK_SECRETS", SALLA_SECRETS[0])
    monkeypatch.setenv("PAYMOB_HMAC_SECRETS", PAYMOB_SECRETS[1])


@pytest.mark.parametrize(
    ("args", "source", "topic"),
    [
        (["--source", "woocommerce", "--shop", "riyadh-oud"], "woocommerce", "order.created"),
        (
            ["--source", "woocommerce", "--topic", "customer.created"],
            "woocommerce",
            "customer.created",
        ),
        (["--source", "salla"], "salla", "order.created"),
        (["--source", "salla", "--topic", "abandoned.cart"], "salla", "abandoned.cart"),
        (["--source", "paymob", "--shop", "4097558"], "paymob", "TRANSACTION"),
    ],
)
@pytest.mark.usefixtures("send_test_env")
def test_send_test_sample_is_verified_and_queued(
    server: str,
    store: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    source: str,
    topic: str,
) -> None:
    assert main(["send-test", *args, "--url", server]) == 0
    assert "HTTP 202" in capsys.readouterr().out
    [delivery] = queued(store)
    assert (delivery["source"], delivery["topic"]) == (source, topic)


@pytest.mark.usefixtures("send_test_env")
def test_send_test_salla_token_strategy_when_only_tokens_are_configured(
    server: str, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("SALLA_WEBHOOK_SECRETS", "")
    monkeypatch.setenv("SALLA_WEBHOOK_TOKENS", SALLA_TOKENS[1])
    assert main(["send-test", "--source", "salla", "--url", server]) == 0


@pytest.mark.usefixtures("send_test_env")
def test_send_test_twice_is_two_deliveries(server: str, store: redis.Redis) -> None:
    for source in ("salla", "paymob"):
        assert main(["send-test", "--source", source, "--url", server]) == 0
        assert main(["send-test", "--source", source, "--url", server]) == 0
    assert len(queued(store)) == 4


@pytest.mark.usefixtures("send_test_env")
def test_send_test_without_a_secret_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYMOB_HMAC_SECRETS", "")
    assert main(["send-test", "--source", "paymob", "--print-curl"]) == 2
    assert "PAYMOB_HMAC_SECRETS" in capsys.readouterr().err
