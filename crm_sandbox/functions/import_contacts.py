"""POST /import-contacts-bulk (§2.1.4, §2.3): create or merge up to 500 contacts."""

from __future__ import annotations

from typing import Any

from crm_sandbox import records, validation
from crm_sandbox.call import Call, Reply, batch, flag, json_object
from crm_sandbox.errors import ApiError, bad_request
from crm_sandbox.store import Store, Tx

MAX_CONTACTS = 500


def handle(store: Store, call: Call) -> Reply:
    data = json_object(call)
    contacts = batch(call, data, "contacts", MAX_CONTACTS)
    skip_duplicates = flag(data, "skip_duplicates")
    defaults = validation.clean_contact(
        {
            key: data[f"default_{key}"]
            for key in ("source", "tags")
            if data.get(f"default_{key}") is not None
        }
    )
    results: list[dict[str, Any]] = []
    counts = {"new": 0, "updated": 0, "failed": 0}
    with store.transaction() as tx:
        for index, item in enumerate(contacts):
            try:
                result = _row(tx, call, item, defaults, skip_duplicates)
            except ApiError as exc:
                counts["failed"] += 1
                results.append({"index": index, "success": False, "error": exc.error})
                continue
            if result.get("skipped"):
                pass
            elif result["is_new"]:
                counts["new"] += 1
            else:
                counts["updated"] += 1
            results.append({"index": index, **result})
    summary = {
        "total": len(contacts),
        "successful": len(contacts) - counts["failed"],
        "failed": counts["failed"],
        "new_contacts": counts["new"],
        "updated_contacts": counts["updated"],
    }
    return Reply(200, {"success": True, "summary": summary, "results": results})


def _row(
    tx: Tx, call: Call, item: Any, defaults: dict[str, Any], skip_duplicates: bool
) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad_request("contact must be an object")
    fields = validation.clean_contact(item)
    # Defaults fill what the row leaves empty; the filled row is then created or merged.
    for key, value in defaults.items():
        if not fields.get(key):
            fields[key] = value
    with tx.savepoint():
        found = records.find_contact(
            tx, call.org_id, fields.get("emails") or [], fields.get("phones") or []
        )
        if found is None:
            row = records.new_contact(fields, call.now)
            tx.insert_contact(call.org_id, row)
            return {"success": True, "contact_id": row["id"], "is_new": True}
        if skip_duplicates:
            return {"success": True, "contact_id": found, "is_new": False, "skipped": True}
        existing = tx.contact(call.org_id, found)
        assert existing is not None
        tx.update_contact(call.org_id, found, records.merge_contact(existing, fields, call.now))
        return {"success": True, "contact_id": found, "is_new": False}
