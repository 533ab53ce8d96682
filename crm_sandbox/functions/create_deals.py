"""POST /create-deals-bulk (§3.1.2, §3.3): up to 100 deals, each linked to a contact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_sandbox import records, validation
from crm_sandbox.call import Call, Reply, batch, flag, json_object
from crm_sandbox.errors import ApiError, bad_request
from crm_sandbox.store import Pipeline, Store, Tx

MAX_DEALS = 100


@dataclass(frozen=True)
class Defaults:
    pipeline: Pipeline
    stage: str | None
    currency: str | None
    skip_if_exists: bool


def handle(store: Store, call: Call) -> Reply:
    data = json_object(call)
    deals = batch(call, data, "deals", MAX_DEALS)
    results: list[dict[str, Any]] = []
    counts = {"new_deals": 0, "skipped_existing": 0, "new_contacts_created": 0, "failed": 0}
    with store.transaction() as tx:
        defaults = read_defaults(tx, call, data)
        for index, item in enumerate(deals):
            try:
                result = _row(tx, call, item, defaults)
            except ApiError as exc:
                counts["failed"] += 1
                results.append({"index": index, "success": False, "error": exc.error})
                continue
            if result.get("skipped"):
                counts["skipped_existing"] += 1
            else:
                counts["new_deals"] += 1
            counts["new_contacts_created"] += result["is_new_contact"]
            results.append({"index": index, **result})
    summary = {
        "total": len(deals),
        "successful": len(deals) - counts["failed"],
        "failed": counts["failed"],
        "new_deals": counts["new_deals"],
        "skipped_existing": counts["skipped_existing"],
        "new_contacts_created": counts["new_contacts_created"],
    }
    return Reply(200, {"success": True, "summary": summary, "results": results})


def read_defaults(tx: Tx, call: Call, data: dict[str, Any]) -> Defaults:
    """The request-wide defaults; a bad one refuses the whole request."""
    pipeline_id = validation.uuid_text(data.get("default_pipeline_id"), "default_pipeline_id")
    stage = data.get("default_stage")
    if stage is not None and (not isinstance(stage, str) or not stage):
        raise bad_request("default_stage must be a non-empty string")
    return Defaults(
        pipeline=records.pipeline_for(tx, call.org_id, pipeline_id),
        stage=stage,
        currency=validation.currency(data.get("default_currency"), "default_currency"),
        skip_if_exists=flag(data, "skip_if_exists"),
    )


def deal_fields(
    tx: Tx, call: Call, item: dict[str, Any], defaults: Defaults
) -> tuple[dict[str, Any], Pipeline]:
    """A deal's own fields with the defaults applied, stage checked against its pipeline."""
    fields = validation.clean_deal(item)
    fields["title"] = validation.title(item.get("title"))
    pipeline = defaults.pipeline
    if fields.get("pipeline_id"):
        pipeline = records.pipeline_for(tx, call.org_id, fields["pipeline_id"])
    fields["stage"] = fields.get("stage") or defaults.stage
    records.check_stage(fields["stage"], pipeline)
    fields["currency"] = fields.get("currency") or defaults.currency
    return fields, pipeline


def _row(tx: Tx, call: Call, item: Any, defaults: Defaults) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad_request("deal must be an object")
    fields, pipeline = deal_fields(tx, call, item, defaults)
    email = _optional(item, "contact_email", validation.normalize_email)
    phone = _optional(item, "contact_phone", validation.normalize_phone)
    names = {
        key: validation.text(item, f"contact_{key}", 100)
        for key in ("first_name", "last_name")
        if f"contact_{key}" in item
    }
    create = flag(item, "create_contact_if_missing")
    if not (fields.get("contact_id") or email or phone):
        raise bad_request("contact_id, contact_email or contact_phone is required")
    with tx.savepoint():
        contact_id = _resolve(tx, call.org_id, fields.get("contact_id"), email, phone)
        is_new_contact = False
        if contact_id is None:
            if not create or not (email or phone):
                raise ApiError(400, "Contact not found")
            contact = records.new_contact(
                {
                    **names,
                    "emails": [email] if email else [],
                    "phones": [phone] if phone else [],
                    "source": fields.get("source"),
                },
                call.now,
            )
            tx.insert_contact(call.org_id, contact)
            contact_id, is_new_contact = contact["id"], True
        fields["contact_id"] = contact_id
        if defaults.skip_if_exists:
            existing = tx.deal_by_title(call.org_id, contact_id, fields["title"])
            if existing is not None:
                return {
                    "success": True,
                    "deal_id": existing,
                    "contact_id": contact_id,
                    "is_new_contact": False,
                    "skipped": True,
                }
        deal = records.new_deal(fields, pipeline, call.now)
        tx.insert_deal(call.org_id, deal)
    return {
        "success": True,
        "deal_id": deal["id"],
        "contact_id": contact_id,
        "is_new_contact": is_new_contact,
    }


def _optional(item: dict[str, Any], key: str, normalize: Any) -> str | None:
    if item.get(key) is None:
        return None
    value: str = normalize(item[key], key)
    return value


def _resolve(
    tx: Tx, org_id: str, contact_id: str | None, email: str | None, phone: str | None
) -> str | None:
    """§3.3's order: contact_id, then contact_email, then contact_phone; first match wins."""
    if contact_id is not None and tx.contact(org_id, contact_id) is not None:
        return contact_id
    if email is not None:
        found = tx.contact_id_by(org_id, "email", email)
        if found is not None:
            return found
    if phone is not None:
        return tx.contact_id_by(org_id, "phone", phone)
    return None
