"""`adapter serve` as deployed: trailing slashes, an unconfigured source, the bound on
request heads, proxy headers from trusted proxies only, and the /metrics token."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from adapter.samples import load_sample
from adapter.signing import shopify_headers
from tests.support.processes import Process, adapter_command, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "shpss_serving_tests_secret"
ADMIN_TOKEN = "serving-admin-token-0123456789"
METRICS_TOKEN = "serving-metrics-token-0123456789"
HEAD_LIMIT = 16 * 1024
UNSET = ("STRIPE_WEBHOOK_SECRETS", "ADAPTER_CONFIG", "TRUSTED_PROXIES", "METRICS_TOKEN")


def serve(redis_url: str, workdir: Path, **env: str) -> Iterator[str]:
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k not in UNSET}
    values = {
        **base,
        "REDIS_URL": redis_url,
        "SHOPIFY_WEBHOOK_SECRETS": SECRET,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "LOG_LEVEL": "WARNING",
        **env,
    }
    process = Process(
        adapter_command("serve", "--port", str(port)),
        port,
        env=values,
        log_path=workdir / "serve.log",
        cwd=ROOT,
    )
    # Process merges os.environ back in: drop what this server must not see
    for name in UNSET:
        if name not in env:
            process.env.pop(name, None)
    process.start()
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture(scope="module")
def served(redis_process: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(
        f"redis://127.0.0.1:{redis_process.port}/0",
        tmp_path_factory.mktemp("serving"),
        TRUSTED_PROXIES="127.0.0.1",
        METRICS_TOKEN=METRICS_TOKEN,
        MAX_HEADER_BYTES=str(HEAD_LIMIT),
    )


@pytest.fixture
def untrusting(redis_url: str, tmp_path: Path) -> Iterator[str]:
    yield from serve(redis_url, tmp_path)


def order() -> tuple[bytes, dict[str, str]]:
    body = json.dumps(load_sample("shopify", "orders/create")).encode()
    return body, shopify_headers(body, SECRET, "orders/create", "serving.myshopify.com")


@pytest.mark.usefixtures("redis_url")
def test_a_trailing_slash_is_answered_as_without_it(served: str) -> None:
    body, headers = order()

    response = httpx.post(f"{served}/webhooks/shopify/", content=body, headers=headers)

    assert (response.status_code, response.json()) == (202, {"status": "queued"})


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/webhooks/stripe", "no secret configured for stripe"),
        ("/webhooks/woocommerce/shop.example", "no secret configured for woocommerce"),
        ("/webhooks/salla", "no secret or token configured for salla"),
        ("/webhooks/paymob/4097558?hmac=" + "0" * 128, "no HMAC secret configured for paymob"),
    ],
)
def test_a_source_without_a_secret_answers_503_naming_it(
    served: str, path: str, error: str
) -> None:
    response = httpx.post(f"{served}{path}", content=b"{}")

    assert response.status_code == 503
    assert response.json() == {"error": error}


def _send_huge_header(port: int, size: int) -> bytes:
    """Send a request head of `size` bytes (stopping if the server hangs up); its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * 65536
        sent = 0
        try:
            while sent < size:
                conn.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while part := conn.recv(65536):
                answer += part
        except ConnectionResetError:
            pass
        return answer


def test_a_request_head_over_the_bound_is_refused_with_431(served: str) -> None:
    port = int(served.rsplit(":", 1)[1])

    answer = _send_huge_header(port, 8 * 1024 * 1024)

    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    # and the server goes on serving
    assert httpx.get(f"{served}/healthz").status_code == 200


def test_a_head_under_the_bound_is_served(served: str) -> None:
    response = httpx.get(f"{served}/healthz", headers={"X-Padding": "a" * (HEAD_LIMIT // 2)})

    assert response.status_code == 200


def _login(base_url: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{base_url}/status", params={"token": ADMIN_TOKEN}, headers=headers)


def test_behind_a_trusted_tls_proxy_the_session_cookie_is_secure(served: str) -> None:
    response = _login(served, **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})

    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower()


def test_without_the_proxy_header_the_cookie_is_not_secure(served: str) -> None:
    response = _login(served)

    assert response.status_code == 303
    assert "secure" not in response.headers["set-cookie"].lower()


def test_forwarded_headers_from_an_untrusted_client_are_ignored(untrusting: str) -> None:
    response = _login(untrusting, **{"X-Forwarded-Proto": "https"})

    assert response.status_code == 303
    assert "secure" not in response.headers["set-cookie"].lower()


@pytest.mark.usefixtures("redis_url")
def test_metrics_with_a_token_set_need_it(served: str) -> None:
    anonymous = httpx.get(f"{served}/metrics")
    wrong = httpx.get(f"{served}/metrics", headers={"Authorization": "Bearer nope"})
    right = httpx.get(f"{served}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "adapter_webhook_deliveries_total" in right.text


@pytest.mark.usefixtures("redis_url")
def test_metrics_without_a_token_set_are_open(untrusting: str) -> None:
    assert httpx.get(f"{untrusting}/metrics").status_code == 200


def test_the_bound_is_per_request_on_a_kept_alive_connection(served: str) -> None:
    port = int(served.rsplit(":", 1)[1])
    padding = b"a" * (HEAD_LIMIT * 2 // 3)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + padding + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        reader = conn.makefile("rb")
        statuses = []
        for _ in range(3):
            conn.sendall(request)
            statuses.append(_read_response(reader))

    assert statuses == [b"HTTP/1.1 200 OK"] * 3


def _read_response(reader: BinaryIO) -> bytes:
    """One whole response from a kept-alive connection; its status line."""
    status = reader.readline().rstrip()
    length = 0
    while (line := reader.readline().rstrip()) != b"":
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    reader.read(length)
    return status
