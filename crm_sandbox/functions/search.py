"""POST /search-contacts: contacts whose names, emails or phones contain the text."""

from __future__ import annotations

from crm_sandbox.call import Call, Reply, json_object
from crm_sandbox.errors import bad_request
from crm_sandbox.store import Store

MAX_LIMIT = 100


def handle(store: Store, call: Call) -> Reply:
    data = json_object(call)
    text = data.get("query")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("query is required")
    limit = data.get("limit", 20)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be an integer between 1 and {MAX_LIMIT}")
    with store.transaction() as tx:
        rows = tx.search_contacts(call.org_id, text.strip(), limit)
    return Reply(200, rows)
