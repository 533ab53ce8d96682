"""A whole pipeline for the operator's views: `adapter serve` (uvicorn), `adapter worker`
processes, the CRM sandbox over HTTP, on the test's scratch Redis database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from adapter.sources.body import body_digest
from tests.ops_endpoints.support import (
    ROOT,
    SHOPIFY_SECRET,
    order_body,
    server_env,
    shopify_headers,
)
from tests.support.processes import Process, adapter_command, free_port
from tests.workers.live import Crm, Sandbox, Workers, worker_env

FORM_TOKEN = "form-token-0123456789"
GOOD_FORM = {"auth": {"kind": "token", "secrets": [FORM_TOKEN]}}
# the email lands in a custom field: every submission has "no valid email or phone"
BAD_FORM = {**GOOD_FORM, "fields": {"email": "custom.email_copy"}}


def forms_env(form: dict[str, Any]) -> dict[str, str]:
    return {"FORMS": json.dumps({"contact": form})}


class Pipeline:
    def __init__(self, workdir: Path, redis_url: str, sandbox: Sandbox) -> None:
        self.workdir = workdir
        self.redis_url = redis_url
        self.crm = Crm(sandbox, sandbox.new_org()["api_key"])
        self.env = {
            **worker_env(redis_url, self.crm),
            **server_env(redis_url),
            "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
            **forms_env(GOOD_FORM),
        }
        self.workers = Workers(workdir, self.env)
        self.server: Process | None = None
        self.url = ""

    def serve(self) -> Pipeline:
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "adapter.cli.serve:app_from_environment"]
        argv += ["--factory", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        self.server = Process(
            argv, port, env=self.env, log_path=self.workdir / "server.log", cwd=ROOT
        ).start(timeout=60)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self.workers.stop()
        if self.server is not None:
            self.server.stop()
        self.crm.close()

    def adapter(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            adapter_command(*args),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )

    def send_order(self, order_id: int | None = None, webhook_id: str | None = None) -> str:
        body = order_body()
        if order_id is not None:
            order = json.loads(body)
            order["id"] = order_id
            order["name"] = f"#{order_id}"
            body = json.dumps(order).encode()
        webhook_id = webhook_id or str(uuid.uuid4())
        answer = httpx.post(
            f"{self.url}/webhooks/shopify",
            content=body,
            headers=shopify_headers(body, webhook_id=webhook_id),
            timeout=20,
        )
        assert answer.status_code == 202, answer.text
        return webhook_id

    def send_bad_signature(self) -> int:
        body = order_body()
        headers = shopify_headers(body)
        headers["X-Shopify-Hmac-Sha256"] = "bm90IHRoZSBzaWduYXR1cmU="
        answer = httpx.post(f"{self.url}/webhooks/shopify", content=body, headers=headers)
        return answer.status_code

    def send_form(self, email: str) -> str:
        """A lead form submission; its delivery id."""
        submission = {"email": email, "first_name": "Ada", "submission_id": uuid.uuid4().hex}
        body = json.dumps(submission).encode()
        answer = httpx.post(
            f"{self.url}/webhooks/forms/contact",
            content=body,
            headers={"X-Form-Token": FORM_TOKEN, "Content-Type": "application/json"},
            timeout=20,
        )
        assert answer.status_code == 202, answer.text
        # a token-authenticated form sends no id: the body's hash is the delivery id
        return body_digest(body)
