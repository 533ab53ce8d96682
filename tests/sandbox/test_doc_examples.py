"""Every curl example of crm-api.md, run with the real curl against a real sandbox server.

The base URL (full or `...`) points at the sandbox, `cg_xxx` becomes a test key, and
the placeholder ids become ids created beforehand; then status and body are checked
against what the document shows.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import Server
from tests.sandbox.doc_examples import PRODUCTION_BASE, Example, extract
from tests.support.shared import missing_reason, shared_root

DOCUMENT = shared_root() / "crm-api.md"
if not DOCUMENT.is_file():
    pytest.skip(missing_reason("crm-api.md"), allow_module_level=True)

DOC_CONTACT_ID = "f2b4f7ab-7033-47ce-be06-b30a47de020a"
EXAMPLES = extract(DOCUMENT.read_text())
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary"),
]


@dataclass
class Org:
    key: str
    contact_id: str
    deal_id: str


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def org(server: Server, http: httpx.Client) -> Org:
    """A fresh organisation holding what the examples refer to."""
    key = f"cg_doc_{uuid.uuid4().hex}"
    created = http.post(f"{server.root}/_sandbox/orgs", json={"name": "docs", "api_key": key})
    assert created.status_code == 201
    headers = {"X-API-Key": key, "Prefer": "return=representation"}
    contact = http.post(
        f"{server.base}/rest-api-proxy/contacts",
        headers=headers,
        json={
            "first_name": "Mahmoud",
            "last_name": "Ali",
            "phones": ["+201017177777"],
            "emails": ["mahmoud@example.com"],
            "custom_fields": {"customer_type": "VIP"},
        },
    ).json()[0]
    http.post(
        f"{server.base}/rest-api-proxy/contacts",
        headers=headers,
        json={"first_name": "Ahmed", "emails": ["ahmed@example.com"]},
    )
    deal = http.post(
        f"{server.base}/rest-api-proxy/deals",
        headers=headers,
        json={
            "title": "Order #68297792 (earlier)",
            "contact_id": contact["id"],
            "custom_fields": {"external_id": "68297792"},
        },
    ).json()[0]
    return Org(key, contact["id"], deal["id"])


def rewrite(example: Example, server: Server, org: Org) -> list[str]:
    def one(arg: str) -> str:
        if arg.startswith(PRODUCTION_BASE):
            arg = server.base + arg.removeprefix(PRODUCTION_BASE)
        elif arg.startswith(".../"):
            arg = server.base + arg.removeprefix("...")
        return (
            arg.replace("X-API-Key: cg_xxx", f"X-API-Key: {org.key}")
            .replace(DOC_CONTACT_ID, org.contact_id)
            .replace("f2b4f7ab-...", org.contact_id)
            .replace("<deal-id>", org.deal_id)
        )

    rest = [one(a) for a in example.argv[1:]]
    return ["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", *rest]


def run(argv: list[str]) -> tuple[int, int, str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        return done.returncode, 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return 0, int(status), body


def matches_documented(actual: Any, documented: Any, org: Org, key: str = "") -> bool:
    """The documented body's shape and values, with its placeholders as wildcards."""
    if isinstance(documented, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches_documented(actual[k], v, org, k) for k, v in documented.items()
        )
    if isinstance(documented, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(documented)
            and all(matches_documented(a, d, org) for a, d in zip(actual, documented, strict=True))
        )
    if documented == "f2b4f7ab-...":
        return actual == org.contact_id
    if isinstance(documented, str) and (documented == "..." or key == "id"):
        return isinstance(actual, str) and uuid.UUID(actual) is not None
    if key == "created_at":
        return isinstance(actual, str) and TIMESTAMP.match(actual) is not None
    return type(actual) is type(documented) and actual == documented


def snapshot(http: httpx.Client, server: Server, org: Org) -> Any:
    headers = {"X-API-Key": org.key}
    return [
        http.get(f"{server.base}/rest-api-proxy/{table}", headers=headers).json()
        for table in ("contacts", "deals")
    ]


def test_the_document_has_the_examples_we_expect() -> None:
    assert len(EXAMPLES) >= 19
    assert {e.path for e in EXAMPLES} == {
        "/rest-api-proxy/contacts",
        "/rest-api-proxy/deals",
        "/import-contacts-bulk",
        "/create-deals-bulk",
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_curl_example_answers_as_documented(
    example: Example, server: Server, org: Org, http: httpx.Client
) -> None:
    if example.moves_body_into_url:
        check_body_moved_into_url(example, server, org, http)
        return
    code, status, text = run(rewrite(example, server, org))
    assert code == 0, text
    expected = example.documented_status or expected_status(example)
    assert status == expected, text
    if status == 204:
        assert text == ""
        return
    body = httpx.Response(status, content=text.encode()).json()
    if example.documented_body is not None:
        assert matches_documented(body, example.documented_body, org), body
    if example.method == "GET":
        assert isinstance(body, list)
        assert body, "the example's filter should find what the fixture created"
        if example.selected is not None:
            assert all(list(row) == output_names(example.selected) for row in body)
    elif example.path.endswith("-bulk"):
        assert body["success"] is True
        assert body["summary"]["failed"] == 0
        assert all(row["success"] for row in body["results"])
    else:
        assert isinstance(body, list)
        assert len(body) == 1


def expected_status(example: Example) -> int:
    if example.method == "POST":
        return 201 if example.path.startswith("/rest-api-proxy/") else 200
    if example.method == "PATCH":
        return 200 if example.wants_representation else 204
    return 200


def output_names(selected: list[str]) -> list[str]:
    return [re.split(r"->>?", item)[-1] for item in selected]


def check_body_moved_into_url(
    example: Example, server: Server, org: Org, http: httpx.Client
) -> None:
    """The document's "update by phone" and "fix stage casing" examples use `-G` with a
    raw `--data` body: curl moves the JSON into the query string. curl 7.88 refuses the
    resulting URL (exit 3); a curl that sends it gets PostgREST's parse error. Either way
    nothing is updated."""
    before = snapshot(http, server, org)
    code, status, text = run(rewrite(example, server, org))
    assert code == 3 or (code == 0 and status == 400 and '"PGRST100"' in text), text
    assert snapshot(http, server, org) == before
