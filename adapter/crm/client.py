"""HTTP client of the CRM's Contacts & Deals API (crm-api.md).

Bodies are the models of `adapter.crm.models`, written by its `dumps`, which writes
Decimal money as a JSON number digit for digit (never through float); answers are
read back with Decimal numbers into the response models.

Every HTTP attempt passes through a `RequestGate` (the shared per-key rate limiter
in workers; an open gate by default). Failures raise the tree of
`adapter.crm.errors`; httpx's own errors are translated in `_translate_httpx_errors`
only. Idempotent requests are retried on transient errors with capped exponential
backoff that honours Retry-After; a write the CRM does not deduplicate by itself
(`/create-lead`, plain POSTs) is never retried here: its caller knows how to look
for the record first.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, TypeAdapter

from adapter import __version__
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
    BulkContactsRequest,
    BulkContactsResponse,
    BulkDealsRequest,
    BulkDealsResponse,
    BulkLeadsRequest,
    BulkLeadsResponse,
    Contact,
    ContactRecord,
    ContactUpdate,
    Deal,
    DealRecord,
    DealUpdate,
    Lead,
    LeadResult,
    dumps,
)

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 300.0
_ERROR_TEXT_LIMIT = 500

# told of every HTTP attempt: (method, path, status or None when no answer, seconds);
# the workers count them in the metrics (the contract itself records nothing)
Observer = Callable[[str, str, int | None, float], None]

M = TypeVar("M", bound=BaseModel)

_CONTACTS: TypeAdapter[list[ContactRecord]] = TypeAdapter(list[ContactRecord])
_DEALS: TypeAdapter[list[DealRecord]] = TypeAdapter(list[DealRecord])


# --- bodies ------------------------------------------------------------------


def create_body(model: BaseModel) -> dict[str, Any]:
    """A create body: unset and null fields left out."""
    return model.model_dump(mode="python", exclude_none=True)


def patch_body(model: BaseModel) -> dict[str, Any]:
    """A PATCH body: only the fields that were set, an explicit None sent as null."""
    return model.model_dump(mode="python", exclude_unset=True)


def in_list(values: Sequence[str]) -> str:
    """A PostgREST `in.(…)` filter value, each element quoted (ids never need it, but a
    comma or parenthesis in a value would otherwise split it)."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "in.(" + ",".join(quoted) + ")"


def pg_array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal for the `cs.` operator, each element quoted."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


# --- backoff and the rate-limit gate -----------------------------------------


@dataclass(frozen=True)
class Backoff:
    """1 s, 2 s, 4 s, 8 s ... capped at 30 s, each shortened by up to `jitter` of itself.

    Jitter only ever shortens a delay, so the schedule never exceeds the cap; a
    Retry-After from the CRM replaces the computed delay.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.1

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        exponent = min(max(attempt - 1, 0), 64)
        raw = min(self.cap, self.base * self.factor**exponent)
        return raw * (1.0 - self.jitter * rand())


class RequestGate(Protocol):
    """Admits each HTTP attempt; told about every 429."""

    def slot(self) -> AbstractContextManager[object]: ...

    def rate_limited(self, retry_after: float) -> None: ...


class OpenGate:
    """No limit: for tools and tests; workers pass the shared Redis limiter."""

    def slot(self) -> AbstractContextManager[object]:
        return nullcontext()

    def rate_limited(self, retry_after: float) -> None:
        return None


# --- errors: the one place httpx is translated ------------------------------


@contextmanager
def _translate_httpx_errors(what: str) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise CrmUnavailable(f"{what}: timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise CrmUnavailable(f"{what}: {type(exc).__name__}") from exc
    except httpx.DecodingError as exc:
        raise CrmBadResponse(f"{what}: undecodable body") from exc


def retry_after_seconds(header: str | None, now: float | None = None) -> float:
    """Retry-After as seconds: delta-seconds or an HTTP date; 1 s when absent or garbled."""
    if not header:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        text = body.get("error") or body.get("message")
        if isinstance(text, str):
            details = body.get("details")
            return f"{text}: {details}" if isinstance(details, str) and details else text
    text = response.text.strip() or response.reason_phrase or f"HTTP {response.status_code}"
    return text[:_ERROR_TEXT_LIMIT]


def _raise_for_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    text = _error_text(response)
    if status == 429:
        raise RateLimited(retry_after_seconds(response.headers.get("Retry-After")), text)
    if status >= 500:
        raise CrmServerError(f"{what}: {status} {text}", status)
    if status in (401, 403):
        raise CrmKeyRefused(f"{what}: {status} {text}", status)
    raise PermanentCrmError(text, status)


def _json(response: httpx.Response, what: str) -> Any:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        raise CrmBadResponse(f"{what}: body is not JSON", response.status_code) from exc


def _parse(model: type[M], response: httpx.Response, what: str) -> M:
    body = _json(response, what)
    try:
        return model.model_validate(body)
    except ValueError as exc:
        raise CrmBadResponse(f"{what}: unexpected body", response.status_code) from exc


def _parse_list(adapter: TypeAdapter[list[Any]], response: httpx.Response, what: str) -> list[Any]:
    body = _json(response, what)
    if body is None:
        return []
    try:
        return adapter.validate_python(body)
    except ValueError as exc:
        raise CrmBadResponse(f"{what}: unexpected body", response.status_code) from exc


# --- the client --------------------------------------------------------------


class CrmClient:
    """One API key's view of the CRM. Thread-safe as httpx.Client is; close() when done."""

    def __init__(
        self,
        base_url: str,
        api_key: str | SecretStr,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        gate: RequestGate | None = None,
        max_attempts: int = 4,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        observe: Observer | None = None,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self.gate: RequestGate = gate or OpenGate()
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._observe = observe
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            timeout=timeout,
            transport=transport,
            headers={
                "X-API-Key": key,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": f"crm-adapter/{__version__}",
            },
        )

    def with_gate(self, gate: RequestGate) -> CrmClient:
        """The same client (connections, key, retries) behind another gate."""
        view = copy.copy(self)
        view.gate = gate
        return view

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CrmClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotent: bool,
        representation: bool = False,
    ) -> httpx.Response:
        """Send one request, retrying transient failures only when `idempotent`."""
        content = dumps(body) if body is not None else None
        headers = {"Prefer": "return=representation"} if representation else None
        what = f"{method} /{path}"
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(method, path, params, content, headers, what)
            except TransientCrmError as exc:
                if not idempotent or attempt >= self.max_attempts:
                    raise
                self._sleep(self.backoff.delay(attempt, exc.retry_after))

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str] | None,
        what: str,
    ) -> httpx.Response:
        status: int | None = None
        started = time.monotonic()
        try:
            with self.gate.slot(), _translate_httpx_errors(what):
                response = self._http.request(
                    method, path, params=params, content=content, headers=headers
                )
                status = response.status_code
        finally:
            if self._observe is not None:
                self._observe(method, path, status, time.monotonic() - started)
        try:
            _raise_for_status(response, what)
        except RateLimited as exc:
            self.gate.rate_limited(exc.retry_after or DEFAULT_RETRY_AFTER)
            raise
        return response

    # -- the CRM's own endpoints -------------------------------------------

    def create_lead(self, lead: Lead) -> LeadResult:
        """POST /create-lead: always a new contact and deal, so never retried here."""
        what = "POST /create-lead"
        response = self.request("POST", "create-lead", body=create_body(lead), idempotent=False)
        return _parse(LeadResult, response, what)

    def create_leads_bulk(self, request: BulkLeadsRequest) -> BulkLeadsResponse:
        what = "POST /create-leads-bulk"
        response = self.request(
            "POST", "create-leads-bulk", body=create_body(request), idempotent=False
        )
        return _parse(BulkLeadsResponse, response, what)

    def create_deals_bulk(self, request: BulkDealsRequest) -> BulkDealsResponse:
        """POST /create-deals-bulk; safe to retry only with `skip_if_exists`."""
        what = "POST /create-deals-bulk"
        response = self.request(
            "POST",
            "create-deals-bulk",
            body=create_body(request),
            idempotent=request.skip_if_exists,
        )
        return _parse(BulkDealsResponse, response, what)

    def import_contacts_bulk(self, request: BulkContactsRequest) -> BulkContactsResponse:
        """POST /import-contacts-bulk: matched rows merge, so a resend creates nothing new."""
        what = "POST /import-contacts-bulk"
        response = self.request(
            "POST", "import-contacts-bulk", body=create_body(request), idempotent=True
        )
        return _parse(BulkContactsResponse, response, what)

    # -- rest-api-proxy ----------------------------------------------------

    def list_contacts(
        self, filters: Mapping[str, str], *, select: str | None = None, limit: int | None = None
    ) -> list[ContactRecord]:
        params = _query(filters, select, limit)
        response = self.request("GET", "rest-api-proxy/contacts", params=params, idempotent=True)
        return _parse_list(_CONTACTS, response, "GET /rest-api-proxy/contacts")

    def list_deals(
        self, filters: Mapping[str, str], *, select: str | None = None, limit: int | None = None
    ) -> list[DealRecord]:
        params = _query(filters, select, limit)
        response = self.request("GET", "rest-api-proxy/deals", params=params, idempotent=True)
        return _parse_list(_DEALS, response, "GET /rest-api-proxy/deals")

    def get_contact(self, contact_id: str) -> ContactRecord | None:
        found = self.list_contacts({"id": f"eq.{contact_id}"}, limit=1)
        return found[0] if found else None

    def get_deal(self, deal_id: str) -> DealRecord | None:
        found = self.list_deals({"id": f"eq.{deal_id}"}, limit=1)
        return found[0] if found else None

    def find_contacts_by_email(self, email: str, limit: int = 20) -> list[ContactRecord]:
        return self.list_contacts({"emails": f"cs.{pg_array([email])}"}, limit=limit)

    def find_contacts_by_phone(self, phone: str, limit: int = 20) -> list[ContactRecord]:
        return self.list_contacts({"phones": f"cs.{pg_array([phone])}"}, limit=limit)

    def find_deals_by_external_id(self, external_id: str, limit: int = 5) -> list[DealRecord]:
        return self.list_deals({"custom_fields->>external_id": f"eq.{external_id}"}, limit=limit)

    def create_contact(self, contact: Contact) -> ContactRecord:
        """POST rest-api-proxy/contacts: no dedupe on the CRM side, so never retried here."""
        return self._create("contacts", contact, ContactRecord)

    def create_deal(self, deal: Deal) -> DealRecord:
        """POST rest-api-proxy/deals: no dedupe on the CRM side, so never retried here."""
        return self._create("deals", deal, DealRecord)

    def update_contact(self, contact_id: str, changes: ContactUpdate) -> list[ContactRecord]:
        """PATCH one contact; `custom_fields` replaces the stored object. [] if none matched."""
        response = self.request(
            "PATCH",
            "rest-api-proxy/contacts",
            params={"id": f"eq.{contact_id}"},
            body=patch_body(changes),
            idempotent=True,
            representation=True,
        )
        return _parse_list(_CONTACTS, response, "PATCH /rest-api-proxy/contacts")

    def update_deal(self, deal_id: str, changes: DealUpdate) -> list[DealRecord]:
        """PATCH one deal; `custom_fields` replaces the stored object. [] if none matched."""
        response = self.request(
            "PATCH",
            "rest-api-proxy/deals",
            params={"id": f"eq.{deal_id}"},
            body=patch_body(changes),
            idempotent=True,
            representation=True,
        )
        return _parse_list(_DEALS, response, "PATCH /rest-api-proxy/deals")

    def delete_contact(self, contact_id: str) -> None:
        self.request(
            "DELETE", "rest-api-proxy/contacts", params={"id": f"eq.{contact_id}"}, idempotent=True
        )

    def delete_deal(self, deal_id: str) -> None:
        self.request(
            "DELETE", "rest-api-proxy/deals", params={"id": f"eq.{deal_id}"}, idempotent=True
        )

    def _create(self, table: str, model: BaseModel, record: type[M]) -> M:
        what = f"POST /rest-api-proxy/{table}"
        response = self.request(
            "POST",
            f"rest-api-proxy/{table}",
            body=create_body(model),
            idempotent=False,
            representation=True,
        )
        body = _json(response, what)
        if isinstance(body, list):
            if len(body) != 1:
                raise CrmBadResponse(f"{what}: expected one record, got {len(body)}")
            body = body[0]
        try:
            return record.model_validate(body)
        except ValueError as exc:
            raise CrmBadResponse(f"{what}: unexpected body", response.status_code) from exc

    # -- guarded and grouped writes (issue #12) ----------------------------

    def get_deals(self, deal_ids: Sequence[str]) -> list[DealRecord]:
        """GET the deals with these ids in one request (`id=in.(…)`); missing ones are absent."""
        if not deal_ids:
            return []
        return self.list_deals({"id": in_list(deal_ids)}, limit=len(deal_ids))

    def update_deals_where(
        self, filters: Mapping[str, str], changes: DealUpdate
    ) -> list[DealRecord]:
        """PATCH every deal the PostgREST `filters` match (§2.1.3 and §3.1.4 PATCH by
        filter); the rows as they are now, [] when none matched. A filter on
        `updated_at` makes it a compare-and-set: it writes only a row nobody changed
        since that time. `custom_fields` replaces the stored object.

        The document's error table answers a filter matching nothing with `404 []`
        (for a GET; PostgREST answers 200 []): both mean "no row", not an error."""
        what = "PATCH /rest-api-proxy/deals"
        try:
            response = self.request(
                "PATCH",
                "rest-api-proxy/deals",
                params=dict(filters),
                body=patch_body(changes),
                idempotent=True,
                representation=True,
            )
        except PermanentCrmError as exc:
            if exc.status == 404 and exc.message.strip() == "[]":
                return []
            raise
        return _parse_list(_DEALS, response, what)

    def get_contacts(self, contact_ids: Sequence[str]) -> list[ContactRecord]:
        """The contacts with these ids (one request; missing ones are left out)."""
        if not contact_ids:
            return []
        listed = ",".join(dict.fromkeys(contact_ids))
        return self.list_contacts({"id": f"in.({listed})"}, limit=len(contact_ids))

    def find_contacts_by_custom_field(
        self, key: str, value: str, limit: int = 5
    ) -> list[ContactRecord]:
        return self.list_contacts({f"custom_fields->>{key}": f"eq.{value}"}, limit=limit)

    def update_contact_if_unchanged(
        self, contact_id: str, updated_at: str, changes: ContactUpdate
    ) -> list[ContactRecord]:
        """PATCH one contact only while its `updated_at` is the one read: [] when it was
        changed since (or deleted), and the caller reads it again."""
        response = self.request(
            "PATCH",
            "rest-api-proxy/contacts",
            params={"id": f"eq.{contact_id}", "updated_at": f"eq.{updated_at}"},
            body=patch_body(changes),
            idempotent=True,
            representation=True,
        )
        return _parse_list(_CONTACTS, response, "PATCH /rest-api-proxy/contacts")


def _query(filters: Mapping[str, str], select: str | None, limit: int | None) -> dict[str, str]:
    params = dict(filters)
    if select:
        params["select"] = select
    if limit is not None:
        params["limit"] = str(limit)
    return params
