from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest

from adapter.crm.client import Backoff, CrmClient, pg_array, retry_after_seconds
from adapter.crm.errors import (
    CrmBadResponse,
    CrmKeyRefused,
    CrmServerError,
    CrmUnavailable,
    PermanentCrmError,
    RateLimited,
    TransientCrmError,
)
from adapter.crm.models import (
    BulkDeal,
    BulkDealsRequest,
    Contact,
    ContactUpdate,
    DealUpdate,
    Lead,
    LeadDeal,
)

BASE = "http://crm.test/functions/v1"
KEY = "cg_secret_key_123"

Handler = Callable[[httpx.Request], httpx.Response]


class CountingGate:
    def __init__(self) -> None:
        self.slots = 0
        self.paused: list[float] = []

    @contextmanager
    def slot(self) -> Iterator[None]:
        self.slots += 1
        yield

    def rate_limited(self, retry_after: float) -> None:
        self.paused.append(retry_after)


def client(
    handler: Handler,
    *,
    attempts: int = 1,
    sleeps: list[float] | None = None,
    gate: CountingGate | None = None,
) -> CrmClient:
    return CrmClient(
        BASE,
        KEY,
        transport=httpx.MockTransport(handler),
        max_attempts=attempts,
        backoff=Backoff(jitter=0.0),
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
        gate=gate,
    )


def answer(status: int, body: object = None, headers: dict[str, str] | None = None) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handle


def deals_request(*titles: str) -> BulkDealsRequest:
    deals = [BulkDeal(title=t, contact_email="a@example.com") for t in titles or ("Order 1",)]
    return BulkDealsRequest(deals=deals, skip_if_exists=True)


def deals_answer(*rows: dict[str, object]) -> dict[str, object]:
    ok = [r for r in rows if r.get("success")]
    return {
        "success": True,
        "summary": {
            "total": len(rows),
            "successful": len(ok),
            "failed": len(rows) - len(ok),
            "new_deals": len([r for r in ok if not r.get("skipped")]),
            "skipped_existing": len([r for r in ok if r.get("skipped")]),
            "new_contacts_created": 0,
        },
        "results": list(rows),
    }


def a_lead() -> Lead:
    return Lead(contact=Contact(emails=["a@example.com"]), deal=LeadDeal(title="Form lead"))


# --- error mapping -----------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_a_transient_server_error(status: int) -> None:
    crm = client(answer(status, {"error": "Internal server error", "details": "boom"}))
    with pytest.raises(CrmServerError) as caught:
        crm.create_deals_bulk(deals_request())
    assert caught.value.status == status
    assert isinstance(caught.value, TransientCrmError)


def test_timeout_is_unavailable() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    with pytest.raises(CrmUnavailable, match="timed out"):
        client(hang).get_deal("d1")


def test_connect_error_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(CrmUnavailable):
        client(refuse).create_deals_bulk(deals_request())


def test_429_is_rate_limited_with_its_retry_after() -> None:
    gate = CountingGate()
    crm = client(answer(429, {"error": "rate limit"}, {"Retry-After": "7"}), gate=gate)
    with pytest.raises(RateLimited) as caught:
        crm.create_deals_bulk(deals_request())
    assert caught.value.retry_after == 7.0
    assert gate.paused == [7.0]


def test_retry_after_as_http_date_is_seconds_from_now() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=12), usegmt=True)
    assert retry_after_seconds(header, now=now.timestamp()) == 12.0


def test_garbled_retry_after_waits_one_second() -> None:
    assert retry_after_seconds("soon") == 1.0
    assert retry_after_seconds(None) == 1.0


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (400, {"error": "title is required"}, "title is required"),
        (409, {"error": "duplicate key value"}, "duplicate key value"),
        (400, {"message": "malformed array literal", "code": "22P02"}, "malformed array"),
    ],
)
def test_other_4xx_is_permanent_with_the_crm_text(status: int, body: object, text: str) -> None:
    with pytest.raises(PermanentCrmError) as caught:
        client(answer(status, body)).create_deals_bulk(deals_request())
    assert caught.value.status == status
    assert text in caught.value.message


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_its_own_error_not_a_bad_request(status: int) -> None:
    # resending with a working key succeeds: the caller pauses, it dead-letters nothing
    with pytest.raises(CrmKeyRefused) as caught:
        client(answer(status, {"error": "Unauthorized"})).create_deals_bulk(deals_request())
    assert caught.value.status == status
    assert not isinstance(caught.value, PermanentCrmError)


def test_error_text_never_carries_the_api_key() -> None:
    with pytest.raises(CrmKeyRefused) as caught:
        client(answer(401, {"error": "Unauthorized"})).get_deal("d1")
    assert KEY not in str(caught.value)


def test_malformed_200_body_is_a_bad_response() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>gateway</html>")

    with pytest.raises(CrmBadResponse):
        client(html).create_deals_bulk(deals_request())


def test_200_with_the_wrong_shape_is_a_bad_response() -> None:
    with pytest.raises(CrmBadResponse):
        client(answer(200, {"ok": True})).create_deals_bulk(deals_request())


# --- retries and backoff -------------------------------------------------------


def test_backoff_doubles_from_one_second_up_to_thirty() -> None:
    backoff = Backoff(jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_backoff_jitter_only_shortens_and_never_passes_the_cap() -> None:
    backoff = Backoff(jitter=0.1)
    for attempt in range(1, 12):
        for rand in (0.0, 0.5, 0.999):
            plain = min(30.0, 2.0 ** (attempt - 1))
            delay = backoff.delay(attempt, rand=lambda r=rand: r)
            assert 0.9 * plain <= delay <= plain <= 30.0


def test_backoff_honours_retry_after() -> None:
    assert Backoff().delay(5, retry_after=3.0) == 3.0


def test_idempotent_request_is_retried_after_5xx_with_backoff() -> None:
    replies = iter([500, 502, 200])
    sleeps: list[float] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        status = next(replies)
        if status == 200:
            row = {"index": 0, "success": True, "deal_id": "d"}
            return httpx.Response(200, json=deals_answer(row))
        return httpx.Response(status, json={"error": "Internal server error"})

    response = client(flaky, attempts=4, sleeps=sleeps).create_deals_bulk(deals_request())
    assert response.results[0].deal_id == "d"
    assert sleeps == [1.0, 2.0]


def test_retry_waits_for_retry_after_of_a_429() -> None:
    replies = iter([429, 200])
    sleeps: list[float] = []

    def limited(request: httpx.Request) -> httpx.Response:
        if next(replies) == 429:
            return httpx.Response(429, json={"error": "rate limit"}, headers={"Retry-After": "3"})
        return httpx.Response(200, json=[])

    assert client(limited, attempts=3, sleeps=sleeps).list_deals({}) == []
    assert sleeps == [3.0]


def test_4xx_is_never_retried() -> None:
    calls = 0

    def bad(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"error": "title is required"})

    with pytest.raises(PermanentCrmError):
        client(bad, attempts=5).create_deals_bulk(deals_request())
    assert calls == 1


def test_create_lead_is_not_retried_because_the_crm_does_not_dedupe_it() -> None:
    calls = 0

    def down(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, json={"error": "Internal server error"})

    with pytest.raises(CrmServerError):
        client(down, attempts=5).create_lead(a_lead())
    assert calls == 1


def test_every_attempt_passes_the_gate() -> None:
    gate = CountingGate()
    replies = iter([503, 503, 200])

    def flaky(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(replies), json=[])

    client(flaky, attempts=3, gate=gate).list_deals({})
    assert gate.slots == 3


# --- bodies and answers --------------------------------------------------------


def test_money_is_sent_as_an_exact_json_number() -> None:
    seen: list[bytes] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json=deals_answer({"index": 0, "success": True, "deal_id": "d"}))

    deal = BulkDeal(
        title="Order 1", contact_email="a@example.com", value=Decimal("1234567.89"), currency="SAR"
    )
    client(capture).create_deals_bulk(BulkDealsRequest(deals=[deal], skip_if_exists=True))
    assert b'"value":1234567.89' in seen[0]
    assert b'"skip_if_exists":true' in seen[0]


def test_money_is_read_back_as_decimal() -> None:
    body = '[{"id": "d1", "title": "Order 1", "value": 0.30}]'

    def decimal_answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body, headers={"Content-Type": "application/json"})

    deal = client(decimal_answer).get_deal("d1")
    assert deal is not None
    assert deal.value == Decimal("0.30")


def test_every_row_of_a_bulk_answer_is_returned() -> None:
    rows = [
        {"index": 0, "success": True, "deal_id": "d0", "contact_id": "c0"},
        {"index": 1, "success": True, "deal_id": "d1", "contact_id": "c1", "skipped": True},
        {"index": 2, "success": False, "error": "contact not found"},
    ]
    response = client(answer(200, deals_answer(*rows))).create_deals_bulk(
        deals_request("A", "B", "C")
    )
    assert [(r.index, r.success, r.skipped, r.error) for r in response.results] == [
        (0, True, None, None),
        (1, True, True, None),
        (2, False, None, "contact not found"),
    ]


def test_search_by_phone_encodes_the_array_literal() -> None:
    seen: list[httpx.URL] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json=[])

    client(capture).find_contacts_by_phone("+201017177777")
    query = seen[0].query.decode()
    assert "phones=cs.%7B%22%2B201017177777%22%7D" in query
    assert seen[0].params["phones"] == 'cs.{"+201017177777"}'


def test_pg_array_quotes_and_escapes() -> None:
    assert pg_array(['a"b', "c\\d"]) == '{"a\\"b","c\\\\d"}'


def test_search_by_external_id_uses_the_custom_field_filter() -> None:
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"id": "d1", "custom_fields": {"external_id": "x:1"}}])

    found = client(capture).find_deals_by_external_id("shopify:s.myshopify.com:order:1")
    assert found[0].id == "d1"
    assert seen[0].url.path == "/functions/v1/rest-api-proxy/deals"
    assert seen[0].url.params["custom_fields->>external_id"] == "eq.shopify:s.myshopify.com:order:1"


def test_requests_carry_the_api_key_header() -> None:
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    client(capture).list_contacts({})
    assert seen[0].headers["X-API-Key"] == KEY
    assert seen[0].url.path == "/functions/v1/rest-api-proxy/contacts"


def test_patch_sends_explicit_nulls_and_asks_for_the_record() -> None:
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"id": "c1"}])

    updated = client(capture).update_contact("c1", ContactUpdate(first_name=None, emails=[]))
    assert [c.id for c in updated] == ["c1"]
    assert json.loads(seen[0].content) == {"first_name": None, "emails": []}
    assert seen[0].url.params["id"] == "eq.c1"
    assert seen[0].headers["Prefer"] == "return=representation"


def test_patch_answered_204_means_no_record_returned() -> None:
    assert client(answer(204)).update_deal("d1", DealUpdate(stage="won")) == []


def test_create_lead_reads_the_ids() -> None:
    body = {"success": True, "contact_id": "c1", "deal_id": "d1", "is_new_contact": True}
    result = client(answer(201, body)).create_lead(a_lead())
    assert (result.contact_id, result.deal_id) == ("c1", "d1")
