"""Building, merging and checking contact and deal rows: the CRM's rules in one place."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from crm_sandbox.errors import ApiError, bad_request
from crm_sandbox.schema import Row
from crm_sandbox.store import Pipeline, Tx


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """The document's format: "2026-04-23T10:12:34.567Z"."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def new_contact(fields: dict[str, Any], now: str) -> Row:
    return {
        "id": fields.get("id") or new_id(),
        "first_name": fields.get("first_name"),
        "last_name": fields.get("last_name"),
        "phones": fields.get("phones", []),
        "emails": fields.get("emails", []),
        "source": fields.get("source"),
        "tags": fields.get("tags", []),
        "assignee_id": fields.get("assignee_id"),
        "company_id": fields.get("company_id"),
        "description": fields.get("description"),
        "opt_in_status": fields.get("opt_in_status", True),
        "custom_fields": fields.get("custom_fields", {}),
        "created_at": fields.get("created_at") or now,
        "updated_at": fields.get("updated_at") or now,
    }


def new_deal(fields: dict[str, Any], pipeline: Pipeline, now: str) -> Row:
    return {
        "id": fields.get("id") or new_id(),
        "title": fields["title"],
        "value": fields.get("value"),
        "currency": fields.get("currency") or "USD",
        "stage": fields.get("stage") or pipeline.stages[0],
        "pipeline_id": pipeline.id,
        "contact_id": fields.get("contact_id"),
        "description": fields.get("description"),
        "expected_close_date": fields.get("expected_close_date"),
        "probability": fields.get("probability"),
        "source": fields.get("source"),
        "tags": fields.get("tags", []),
        "owner_id": fields.get("owner_id"),
        "company_id": fields.get("company_id"),
        "custom_fields": fields.get("custom_fields", {}),
        "products": fields.get("products"),
        "created_at": fields.get("created_at") or now,
        "updated_at": fields.get("updated_at") or now,
    }


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def merge_contact(existing: Row, incoming: dict[str, Any], now: str) -> Row:
    """import-contacts-bulk's merge: non-empty incoming scalars win, arrays are unioned
    (existing order first), custom_fields are merged key by key (incoming keys win)."""
    merged = dict(existing)
    for field, value in incoming.items():
        if not _present(value) and not isinstance(value, bool):
            continue
        if field in ("phones", "emails", "tags"):
            merged[field] = list(dict.fromkeys([*(existing.get(field) or []), *value]))
        elif field == "custom_fields":
            merged[field] = {**(existing.get(field) or {}), **value}
        else:
            merged[field] = value
    merged["updated_at"] = now
    return merged


def find_contact(tx: Tx, org_id: str, emails: list[str], phones: list[str]) -> str | None:
    """The duplicate rule of §2.3: any email first, then any (normalised) phone."""
    for kind, values in (("email", emails), ("phone", phones)):
        for value in values:
            found = tx.contact_id_by(org_id, kind, value)
            if found:
                return found
    return None


def pipeline_for(tx: Tx, org_id: str, pipeline_id: str | None) -> Pipeline:
    if pipeline_id is None:
        pipeline = tx.default_pipeline(org_id)
        if pipeline is None:
            raise bad_request("No pipeline found for this organization")
        return pipeline
    pipeline = tx.pipeline(org_id, pipeline_id)
    if pipeline is None:
        raise bad_request(f"No pipeline found with id {pipeline_id}")
    return pipeline


def check_stage(stage: str | None, pipeline: Pipeline) -> None:
    """A stage must name one of the pipeline's stages; case is not checked and the value is
    stored as sent, so "QUALIFIED" gets in and never shows in the dashboard (§3.1.1)."""
    if stage is not None and stage.lower() not in pipeline.stages:
        raise bad_request(f"Invalid stage: must be one of {', '.join(pipeline.stages)}")


def check_contact(tx: Tx, org_id: str, contact_id: str | None) -> None:
    if contact_id is not None and tx.contact(org_id, contact_id) is None:
        raise ApiError(400, "Contact not found")
