"""An in-memory CRM behind httpx.MockTransport, for fast tests of the worker logic.

It follows crm-api.md where the worker depends on it (skip_if_exists on (contact,
title), per-row results, PostgREST filters, PATCH replacing custom_fields) and can
fail on purpose: a 500 before or after committing, a 429, a row error. The
integration tests run the same scenarios against the real sandbox over HTTP.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

STAGES = {"new", "qualified", "won", "lost"}


@dataclass
class FakeCrm:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    bulk_rows: list[int] = field(default_factory=list)
    # per "METHOD /path": faults to apply to the next requests, in order
    faults: dict[str, list[str]] = field(default_factory=dict)
    stages: set[str] = field(default_factory=lambda: set(STAGES))
    # random faults: each request fails with this probability (one of three ways)
    chaos: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    clock: int = 0

    def tick(self) -> str:
        """A new `updated_at`, different from every earlier one."""
        self.clock += 1
        return f"2026-01-01T00:00:{self.clock // 1000:02d}.{self.clock % 1000:03d}Z"

    def edit_deal(self, deal_id: str, **changes: Any) -> None:
        """A person's edit in the CRM: the deal changes, and so does its updated_at."""
        deal = self.deals[deal_id]
        for name, value in changes.items():
            if name == "custom_fields":
                deal["custom_fields"] = {**deal.get("custom_fields", {}), **value}
            else:
                deal[name] = value
        deal["updated_at"] = self.tick()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail(self, route: str, *faults: str) -> None:
        self.faults.setdefault(route, []).extend(faults)

    # -- dispatch --------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/functions/v1")
        route = f"{request.method} {path}"
        self.requests[route] += 1
        fault = self.faults.get(route, []).pop(0) if self.faults.get(route) else None
        if fault is None and self.chaos and self.rng.random() < self.chaos:
            fault = self.rng.choice(["error_before", "error_after", "rate_limit"])
        if fault == "error_before":
            return httpx.Response(500, json={"error": "Internal server error"})
        if fault == "rate_limit":
            wait = "0" if self.chaos else "1"
            return httpx.Response(429, json={"error": "rate limit"}, headers={"Retry-After": wait})
        body = json.loads(request.content, parse_float=Decimal) if request.content else None
        status, answer = self.route(request, path, body)
        if fault == "error_after":
            return httpx.Response(500, json={"error": "Internal server error"})
        return httpx.Response(status, content=_dumps(answer))

    def route(self, request: httpx.Request, path: str, body: Any) -> tuple[int, Any]:
        if path == "/create-deals-bulk":
            return self.create_deals_bulk(body)
        if path == "/create-lead":
            return 201, self.create_lead(body)
        if path == "/create-leads-bulk":
            results = [
                {"index": i, **self.create_lead(lead)} for i, lead in enumerate(body["leads"])
            ]
            self.bulk_rows.append(len(results))
            return 200, {"success": True, "summary": _summary(results), "results": results}
        if path == "/import-contacts-bulk":
            return self.import_contacts(body)
        table = {"/rest-api-proxy/deals": self.deals, "/rest-api-proxy/contacts": self.contacts}
        if path in table:
            rows = _select(table[path], request.url.params)
            if request.method == "GET":
                return 200, rows
            if request.method == "PATCH":
                for row in rows:
                    row.update(body)
                    row["updated_at"] = self.tick()
                return 200, rows
            if request.method == "POST" and path == "/rest-api-proxy/contacts":
                return 201, [self.new_contact(**body)]
        return 404, {"error": "not found"}

    # -- endpoints -------------------------------------------------------------

    def find_contact(self, email: str | None, phone: str | None) -> dict[str, Any] | None:
        for contact in self.contacts.values():
            if email and email in (contact.get("emails") or []):
                return contact
        for contact in self.contacts.values():
            if phone and phone in (contact.get("phones") or []):
                return contact
        return None

    def new_contact(self, **fields: Any) -> dict[str, Any]:
        contact = {"id": str(uuid.uuid4()), "tags": [], "custom_fields": {}, **fields}
        self.contacts[contact["id"]] = contact
        return contact

    def create_deals_bulk(self, body: dict[str, Any]) -> tuple[int, Any]:
        if len(body["deals"]) > 100:
            return 400, {"error": "Maximum batch size is 100 deals"}
        if any((row.get("custom_fields") or {}).get("poison") for row in body["deals"]):
            # a row that fails the whole request, as a payload-level validation error does
            return 400, {"error": "malformed"}
        self.bulk_rows.append(len(body["deals"]))
        results = []
        for index, row in enumerate(body["deals"]):
            stage = row.get("stage", body.get("default_stage", "new"))
            if stage not in self.stages:
                results.append(
                    {"index": index, "success": False, "error": f"invalid stage {stage}"}
                )
                continue
            contact = self.find_contact(row.get("contact_email"), row.get("contact_phone"))
            if contact is None:
                contact = self.new_contact(
                    emails=[row["contact_email"]] if row.get("contact_email") else [],
                    phones=[row["contact_phone"]] if row.get("contact_phone") else [],
                    first_name=row.get("contact_first_name"),
                )
            existing = [
                d
                for d in self.deals.values()
                if d["contact_id"] == contact["id"] and d["title"] == row["title"]
            ]
            if existing and body.get("skip_if_exists"):
                results.append(
                    {
                        "index": index,
                        "success": True,
                        "deal_id": existing[0]["id"],
                        "contact_id": contact["id"],
                        "skipped": True,
                    }
                )
                continue
            deal = {
                "id": str(uuid.uuid4()),
                "contact_id": contact["id"],
                "tags": [],
                "custom_fields": {},
                **{k: v for k, v in row.items() if not k.startswith("contact_")},
            }
            deal.pop("create_contact_if_missing", None)
            deal["stage"] = stage
            deal["updated_at"] = self.tick()
            self.deals[deal["id"]] = deal
            results.append(
                {
                    "index": index,
                    "success": True,
                    "deal_id": deal["id"],
                    "contact_id": contact["id"],
                }
            )
        summary = {
            **_summary(results),
            "new_deals": sum(1 for r in results if r["success"] and not r.get("skipped")),
            "skipped_existing": sum(1 for r in results if r.get("skipped")),
            "new_contacts_created": 0,
        }
        return 200, {"success": True, "summary": summary, "results": results}

    def create_lead(self, body: dict[str, Any]) -> dict[str, Any]:
        contact = self.new_contact(**body["contact"])
        deal = {"id": str(uuid.uuid4()), "contact_id": contact["id"], **body["deal"]}
        self.deals[deal["id"]] = deal
        return {"success": True, "contact_id": contact["id"], "deal_id": deal["id"]}

    def import_contacts(self, body: dict[str, Any]) -> tuple[int, Any]:
        self.bulk_rows.append(len(body["contacts"]))
        results = []
        for index, row in enumerate(body["contacts"]):
            emails, phones = row.get("emails") or [], row.get("phones") or []
            contact = self.find_contact(
                emails[0] if emails else None, phones[0] if phones else None
            )
            if contact is None:
                contact = self.new_contact(**row)
                results.append({"index": index, "success": True, "contact_id": contact["id"]})
            else:
                contact.update(row)
                results.append({"index": index, "success": True, "contact_id": contact["id"]})
        summary = {**_summary(results), "new_contacts": 0, "updated_contacts": 0}
        return 200, {"success": True, "summary": summary, "results": results}

    # -- views for assertions --------------------------------------------------

    def deals_by_external_id(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for deal in self.deals.values():
            found.setdefault((deal.get("custom_fields") or {}).get("external_id"), []).append(deal)
        return found


def _summary(results: list[dict[str, Any]]) -> dict[str, int]:
    ok = sum(1 for r in results if r["success"])
    return {"total": len(results), "successful": ok, "failed": len(results) - ok}


_CS = re.compile(r'^cs\.\{"(.*)"\}$')


def _select(table: dict[str, dict[str, Any]], params: httpx.QueryParams) -> list[dict[str, Any]]:
    rows = list(table.values())
    for name, value in params.multi_items():
        if name in ("select", "limit"):
            continue
        if name.startswith("custom_fields->>"):
            key = name.removeprefix("custom_fields->>")
            wanted = value.removeprefix("eq.")
            rows = [r for r in rows if str((r.get("custom_fields") or {}).get(key)) == wanted]
        elif value.startswith("in.("):
            wanted_ids = {v.strip('"') for v in value[4:-1].split(",")}
            rows = [r for r in rows if str(r.get(name)) in wanted_ids]
        elif value.startswith("eq."):
            rows = [r for r in rows if str(r.get(name)) == value.removeprefix("eq.")]
        elif (match := _CS.match(value)) is not None:
            rows = [r for r in rows if match.group(1) in (r.get(name) or [])]
    if "limit" in params:
        rows = rows[: int(params["limit"])]
    return rows


def _dumps(value: Any) -> bytes:
    return json.dumps(
        value, default=lambda d: float(d) if isinstance(d, Decimal) else str(d)
    ).encode()
