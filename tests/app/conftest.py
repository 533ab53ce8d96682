from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import Process, free_port

ROOT = Path(__file__).resolve().parents[2]

SHOPIFY_SECRETS = ("shpss_app_current", "shpss_app_previous")
SHOP_SECRET = "shpss_store_admin_key"
SPECIAL_SHOP = "special-store.myshopify.com"
STRIPE_SECRETS = ("whsec_stripe_current", "whsec_stripe_previous")
FORM_HMAC_SECRETS = ("form-hmac-current", "form-hmac-previous")
FORM_TOKENS = ("form-token-current", "form-token-previous")
SW_SECRETS = (
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_c2VjcmV0LXByZXZpb3VzLWtleS0xMjM0NTY3OA==",
)

CONFIG = f"""
[shopify_shop_secrets]
"{SPECIAL_SHOP}" = ["{SHOP_SECRET}"]

[forms.contact]
name = "Contact us"
honeypot_field = "website"
[forms.contact.auth]
kind = "hmac"
secrets = ["{FORM_HMAC_SECRETS[0]}", "{FORM_HMAC_SECRETS[1]}"]

[forms.nocode]
[forms.nocode.auth]
kind = "token"
secrets = ["{FORM_TOKENS[0]}", "{FORM_TOKENS[1]}"]

[forms.signed]
[forms.signed.auth]
kind = "standard_webhooks"
secrets = ["{SW_SECRETS[0]}", "{SW_SECRETS[1]}"]
"""


def server_env(redis_url: str, config_path: Path) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "SHOPIFY_WEBHOOK_SECRETS": ",".join(SHOPIFY_SECRETS),
        "STRIPE_WEBHOOK_SECRETS": ",".join(STRIPE_SECRETS),
        "ADAPTER_CONFIG": str(config_path),
        "MAX_BODY_BYTES": str(1024 * 1024),
        "STRIPE_TOLERANCE_SECONDS": "300",
    }


@dataclass
class Server:
    process: Process
    url: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


def start_server(
    redis_url: str, workdir: Path, *extra_args: str, target: str = "tests.app.factory:create"
) -> Server:
    config = workdir / "adapter.toml"
    config.write_text(CONFIG)
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", target, "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", *extra_args]
    process = Process(
        argv, port, env=server_env(redis_url, config), log_path=workdir / "server.log", cwd=ROOT
    ).start()
    return Server(process, f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def server(redis_process: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real app under a real uvicorn, on the session's redis-server."""
    running = start_server(
        f"redis://127.0.0.1:{redis_process.port}/0", tmp_path_factory.mktemp("server")
    )
    yield running
    running.process.stop()


@pytest.fixture
def http(server: Server, redis_url: str) -> Iterator[httpx.Client]:
    """A client of the module's server; the database is flushed for each test."""
    with server.client() as client:
        yield client
