"""rest-api-proxy: PostgREST over the org's contacts and deals, behind the CRM's validation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from crm_sandbox import records, validation
from crm_sandbox.call import NO_BODY, Call, Reply, load_json
from crm_sandbox.errors import ApiError, PostgrestError, invalid_input
from crm_sandbox.postgrest import literals
from crm_sandbox.postgrest.query import Query, parse_query
from crm_sandbox.schema import SYSTEM_COLUMNS, TABLES, Hint, Record, Row, Table
from crm_sandbox.store import Store, Tx


def handle(store: Store, call: Call, table_name: str) -> Reply:
    table = TABLES.get(table_name)
    if table is None:
        raise PostgrestError(
            404,
            "PGRST205",
            f"Could not find the table 'public.{table_name}' in the schema cache",
        )
    query = parse_query(table, call.query)
    representation = "return=representation" in _prefer(call)
    if call.method == "GET":
        return _get(store, call, query)
    if call.method == "HEAD":
        reply = _get(store, call, query)
        reply.body = NO_BODY
        return reply
    if call.method == "POST":
        return _post(store, call, query, representation)
    if call.method == "PATCH":
        return _patch(store, call, query, representation)
    if call.method == "DELETE":
        return _delete(store, call, query, representation)
    raise ApiError(405, "Method not allowed")


def _rows(
    call: Call, status: int, rows: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> Reply:
    """Rows as an array, or as one object when the client asked for exactly one."""
    if "application/vnd.pgrst.object+json" not in call.headers.get("accept", ""):
        return Reply(status, rows, headers or {})
    if len(rows) != 1:
        raise PostgrestError(
            406,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
            f"The result contains {len(rows)} rows",
        )
    return Reply(status, rows[0], headers or {})


def _prefer(call: Call) -> set[str]:
    return {p.strip() for p in call.headers.get("prefer", "").split(",") if p.strip()}


def _candidates(tx: Tx, call: Call, table: Table, hint: Hint | None) -> list[Record]:
    if table.name == "contacts":
        return tx.contacts(call.org_id, hint)
    return tx.deals(call.org_id, hint)


def _get(store: Store, call: Call, query: Query) -> Reply:
    with store.transaction() as tx:
        candidates = _candidates(tx, call, query.table, query.hint())
    matched = [r for r in candidates if query.matches(r.row)]
    page = query.apply(matched)
    body = [query.project(r.row) for r in page]
    span = _content_range(call, query.offset, len(body), len(matched))
    return _rows(call, 200, body, {"Content-Range": span})


def _content_range(call: Call, first: int, returned: int, total: int) -> str:
    """PostgREST's Content-Range: the rows answered, and the total only under count=exact."""
    counted = str(total) if "count=exact" in _prefer(call) else "*"
    if returned == 0:
        return f"*/{counted}"
    return f"{first}-{first + returned - 1}/{counted}"


def _written(call: Call, status: int, rows: list[Row], query: Query, representation: bool) -> Reply:
    """What a write answers: the rows if asked for, and the range PostgREST reports."""
    if call.method == "POST":
        span = _content_range(call, 0, 0, len(rows))  # an insert reports no range, only a count
    else:
        span = _content_range(call, 0, len(rows), len(rows))
    headers = {"Content-Range": span}
    if representation:
        return _rows(call, status, [query.project(row) for row in rows], headers)
    return Reply(201 if call.method == "POST" else 204, headers=headers)


def _payload(call: Call) -> Any:
    try:
        return load_json(call.body)
    except ValueError:
        raise PostgrestError(400, "PGRST102", "Empty or invalid json") from None


def _check_columns(table: Table, row: dict[str, Any]) -> None:
    for key in row:
        if key not in table.columns:
            raise PostgrestError(
                400,
                "PGRST204",
                f"Could not find the '{key}' column of '{table.name}' in the schema cache",
            )


def _fields(table: Table, data: dict[str, Any]) -> dict[str, Any]:
    """The row's values after the CRM's checks; id and timestamps as PostgreSQL reads them."""
    _check_columns(table, data)
    if table.name == "contacts":
        fields = validation.clean_contact(data)
    else:
        fields = validation.clean_deal(data)
    for column in SYSTEM_COLUMNS:
        value = data.get(column)
        if value is None:
            continue
        if not isinstance(value, str):
            raise invalid_input(table.columns[column].value, str(value))
        if column == "id":
            fields[column] = literals.read_uuid(value)
        else:
            fields[column] = records.timestamp(literals.read_timestamp(value))
    return fields


def _duplicate_key(table: Table, row_id: str) -> PostgrestError:
    return PostgrestError(
        409,
        "23505",
        f'duplicate key value violates unique constraint "{table.name}_pkey"',
        f"Key (id)=({row_id}) already exists.",
    )


def _insert_columns(call: Call, table: Table) -> list[str] | None:
    """`?columns=a,b`: the payload keys to insert, the rest being ignored (None: not given)."""
    given = [value for key, value in call.query if key == "columns"]
    if not given:
        return None
    names = [name.strip().strip('"') for name in given[-1].split(",") if name.strip()]
    _check_columns(table, dict.fromkeys(names))
    return names


def _insert_rows(call: Call, table: Table, payload: Any) -> list[dict[str, Any]]:
    """The rows to insert. Without `columns`, every object must have the first one's keys;
    with it, a listed key an object lacks is null, or the column's default under
    `Prefer: missing=default`."""
    rows_in = [payload] if isinstance(payload, dict) else payload
    if not isinstance(rows_in, list) or not all(isinstance(r, dict) for r in rows_in):
        raise PostgrestError(400, "PGRST102", "Empty or invalid json")
    columns = _insert_columns(call, table)
    if columns is None:
        if any(r.keys() != rows_in[0].keys() for r in rows_in):
            raise PostgrestError(400, "PGRST102", "All object keys must match")
        return rows_in
    defaults = "missing=default" in _prefer(call)
    return [{c: r.get(c) for c in columns if c in r or not defaults} for r in rows_in]


def _post(store: Store, call: Call, query: Query, representation: bool) -> Reply:
    table = query.table
    rows_in = _insert_rows(call, table, _payload(call))
    prepared = [_fields(table, r) for r in rows_in]
    if table.name == "deals":
        for fields in prepared:
            validation.title(fields.get("title"))
            if fields.get("contact_id") is None:
                raise ApiError(400, "contact_id is required")
    created: list[Row] = []
    with store.transaction() as tx:
        for fields in prepared:
            row = _build(tx, call, table, fields)
            if tx.id_taken(table.name, row["id"]):
                raise _duplicate_key(table, row["id"])
            if table.name == "contacts":
                tx.insert_contact(call.org_id, row)
            else:
                tx.insert_deal(call.org_id, row)
            created.append(row)
    return _written(call, 201, created, query, representation)


def _build(tx: Tx, call: Call, table: Table, fields: dict[str, Any]) -> Row:
    if table.name == "contacts":
        return records.new_contact(fields, call.now)
    pipeline = records.pipeline_for(tx, call.org_id, fields.get("pipeline_id"))
    records.check_stage(fields.get("stage"), pipeline)
    records.check_contact(tx, call.org_id, fields.get("contact_id"))
    return records.new_deal(fields, pipeline, call.now)


def _patch(store: Store, call: Call, query: Query, representation: bool) -> Reply:
    payload = _payload(call)
    if not isinstance(payload, dict):
        raise PostgrestError(400, "PGRST102", "Empty or invalid json")
    if not payload:
        # PostgREST answers an empty PATCH without touching the database.
        return Reply(200, []) if representation else Reply(204)
    if not query.has_filters:
        raise PostgrestError(400, "21000", "UPDATE requires a WHERE clause")
    table = query.table
    fields = _fields(table, payload)
    updated: list[Row] = []
    with store.transaction() as tx:
        for record in _candidates(tx, call, table, query.hint()):
            if not query.matches(record.row):
                continue
            row = {**record.row, **fields}
            row["updated_at"] = fields.get("updated_at") or _after(record.row, call.now)
            if row["id"] != record.row["id"] and tx.id_taken(table.name, row["id"]):
                raise _duplicate_key(table, row["id"])
            if table.name == "contacts":
                tx.update_contact(call.org_id, record.row["id"], row)
            else:
                _check_deal_change(tx, call, fields, row)
                tx.update_deal(call.org_id, record.row["id"], row)
            updated.append(row)
    return _written(call, 200, updated, query, representation)


def _after(row: Row, now: str) -> str:
    """A write's `updated_at`: now, but never the time the row already shows.

    PostgreSQL's now() has microseconds, so two writes of one row never share an
    `updated_at`, and a PATCH filtered on `updated_at=eq.<a time read before>` (a
    compare-and-set, §2.1.3's PATCH by filter) matches no row once anyone wrote it
    since. The document's timestamps have milliseconds: two writes within one would
    look alike, so the later one moves a millisecond on."""
    previous = row.get("updated_at")
    if not isinstance(previous, str) or now > previous:
        return now
    later = datetime.fromisoformat(previous.replace("Z", "+00:00")) + timedelta(milliseconds=1)
    return records.timestamp(later)


def _check_deal_change(tx: Tx, call: Call, fields: dict[str, Any], row: Row) -> None:
    if "title" in fields:
        validation.title(fields["title"])
    if "contact_id" in fields:
        records.check_contact(tx, call.org_id, fields["contact_id"])
    if "pipeline_id" in fields or "stage" in fields:
        pipeline = records.pipeline_for(tx, call.org_id, row.get("pipeline_id"))
        row["pipeline_id"] = pipeline.id
        if row.get("stage") is None:
            row["stage"] = pipeline.stages[0]
        records.check_stage(row["stage"], pipeline)


def _delete(store: Store, call: Call, query: Query, representation: bool) -> Reply:
    if not query.has_filters:
        raise PostgrestError(400, "21000", "DELETE requires a WHERE clause")
    table = query.table
    deleted: list[Row] = []
    with store.transaction() as tx:
        for record in _candidates(tx, call, table, query.hint()):
            if not query.matches(record.row):
                continue
            if table.name == "contacts":
                _detach_deals(tx, call, record.row["id"])
                tx.delete_contact(call.org_id, record.row["id"])
            else:
                tx.delete_deal(call.org_id, record.row["id"])
            deleted.append(record.row)
    return _written(call, 200, deleted, query, representation)


def _detach_deals(tx: Tx, call: Call, contact_id: str) -> None:
    """A deleted contact's deals stay, unlinked (ON DELETE SET NULL)."""
    for record in tx.deals(call.org_id, Hint("contact_id", contact_id)):
        tx.update_deal(call.org_id, record.row["id"], {**record.row, "contact_id": None})
