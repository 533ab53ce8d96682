"""POST /create-lead and /create-leads-bulk: a new contact and a new deal, no dedupe."""

from __future__ import annotations

from typing import Any

from crm_sandbox import records, validation
from crm_sandbox.call import Call, Reply, batch, json_object
from crm_sandbox.errors import ApiError, bad_request
from crm_sandbox.functions.create_deals import Defaults, deal_fields, read_defaults
from crm_sandbox.store import Store, Tx

MAX_LEADS = 100


def handle_one(store: Store, call: Call) -> Reply:
    data = json_object(call)
    with store.transaction() as tx:
        defaults = Defaults(records.pipeline_for(tx, call.org_id, None), None, None, False)
        contact_id, deal_id = _lead(tx, call, data, defaults)
    body = {"success": True, "contact_id": contact_id, "deal_id": deal_id, "is_new_contact": True}
    return Reply(201, body)


def handle_bulk(store: Store, call: Call) -> Reply:
    data = json_object(call)
    leads = batch(call, data, "leads", MAX_LEADS)
    results: list[dict[str, Any]] = []
    failed = 0
    with store.transaction() as tx:
        defaults = read_defaults(tx, call, {**data, "skip_if_exists": False})
        for index, item in enumerate(leads):
            try:
                if not isinstance(item, dict):
                    raise bad_request("lead must be an object")
                contact_id, deal_id = _lead(tx, call, item, defaults)
            except ApiError as exc:
                failed += 1
                results.append({"index": index, "success": False, "error": exc.error})
                continue
            results.append(
                {"index": index, "success": True, "contact_id": contact_id, "deal_id": deal_id}
            )
    done = len(leads) - failed
    summary = {
        "total": len(leads),
        "successful": done,
        "failed": failed,
        "new_contacts": done,
        "new_deals": done,
    }
    return Reply(200, {"success": True, "summary": summary, "results": results})


def _lead(tx: Tx, call: Call, item: dict[str, Any], defaults: Defaults) -> tuple[str, str]:
    contact, deal = item.get("contact"), item.get("deal")
    if not isinstance(contact, dict):
        raise bad_request("contact is required")
    if not isinstance(deal, dict):
        raise bad_request("deal is required")
    contact_fields = validation.clean_contact(contact)
    # The lead's own contact is the deal's contact; any contact_id sent is ignored.
    fields, pipeline = deal_fields(tx, call, {**deal, "contact_id": None}, defaults)
    with tx.savepoint():
        contact_row = records.new_contact(contact_fields, call.now)
        tx.insert_contact(call.org_id, contact_row)
        deal_row = records.new_deal({**fields, "contact_id": contact_row["id"]}, pipeline, call.now)
        tx.insert_deal(call.org_id, deal_row)
    return contact_row["id"], deal_row["id"]
