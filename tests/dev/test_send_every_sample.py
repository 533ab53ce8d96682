"""`adapter send-test` for every handled topic and event against `adapter dev`: every
sample reaches the CRM and nothing is dead-lettered."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapter import samples
from adapter.dev import config
from tests.dev.support import Dev, user_env
from tests.support.processes import adapter_command
from tests.support.waiting import wait_until
from workers.deadletters import DeadLetters
from workers.outbox import Outbox

pytestmark = pytest.mark.slow

# customers before their payments, orders before their refunds, redactions last
FIRST = ("customers/create", "customer.created")
LAST = ("customers/redact", "shop/redact")


class DevOnRedis(Dev):
    """`adapter dev` on the test's Redis (REDIS_URL set: no embedded one)."""

    def __init__(self, workdir: Path, redis_url: str) -> None:
        super().__init__(workdir)
        self.redis_url = redis_url

    def start(self) -> Dev:
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            self.argv,
            env={**user_env(), "REDIS_URL": self.redis_url},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self


@pytest.fixture
def dev(tmp_path: Path, redis_url: str) -> Iterator[Dev]:
    process = DevOnRedis(tmp_path, redis_url).start()
    yield process
    process.kill()


def ordered(topics: list[str]) -> list[str]:
    def rank(topic: str) -> int:
        return 0 if topic in FIRST else 2 if topic in LAST else 1

    return sorted(topics, key=rank)


def send(dev: Dev, source: str, topic: str | None, form_config: Path) -> None:
    path = {"shopify": "shopify", "stripe": "stripe", "form": f"forms/{config.FORM_ID}"}[source]
    secret = {
        "shopify": config.SHOPIFY_SECRET,
        "stripe": config.STRIPE_SECRET,
        "form": config.FORM_SECRET,
    }[source]
    argv = ["send-test", "--source", source, "--secret", secret]
    argv += ["--url", f"http://127.0.0.1:{dev.port}/webhooks/{path}"]
    if source == "form":
        # the user's own config names the dev mode's form, as its banner shows it
        argv += ["--config", str(form_config)]
    else:
        argv += ["--topic", topic or ""]
    sent = subprocess.run(
        adapter_command(*argv), env=user_env(), capture_output=True, text=True, timeout=60
    )
    assert sent.returncode == 0, f"{source} {topic}: {sent.stdout}{sent.stderr}"
    assert "HTTP 20" in sent.stdout, f"{source} {topic}: {sent.stdout}"


def test_every_sample_sent_to_dev_mode_leaves_no_dead_letter(
    dev: Dev, redis_url: str, tmp_path: Path
) -> None:
    form_config = tmp_path / "adapter.toml"
    auth = f'{{ kind = "hmac", secrets = ["{config.FORM_SECRET}"] }}'
    form_config.write_text(f"[forms.{config.FORM_ID}]\nauth = {auth}\n")
    dev.wait_for_line("adapter send-test ")
    for source in ("shopify", "stripe", "form"):
        for topic in ordered(samples.topics(source)):
            send(dev, source, topic, form_config)
    connection = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        outbox, letters = Outbox(connection), DeadLetters(connection)
        wait_until(
            lambda: outbox.size() == 0 and not connection.llen("rq:queue:deliveries"),
            timeout=180,
            interval=0.5,
            message="every sample delivered",
        )
        assert letters.count() == 0, [(x.command_kind, x.error) for x in letters.listing()]
    finally:
        connection.close()
    titles = {d["title"] for d in dev.deals()}
    assert {"Order #1042", "Invoice 7D1C4E2A-0003"} <= titles
