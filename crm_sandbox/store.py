"""SQLite storage: organisations, keys, pipelines, contacts and deals.

Each row is kept whole as JSON; side tables index what lookups need (emails,
phones, a deal's contact and title). One lock serialises every transaction, so two
simultaneous bulk calls can never both create the contact for one email.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from crm_sandbox.postgrest import jsonb
from crm_sandbox.schema import DEFAULT_STAGES, Hint, Record, Row

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS api_keys (key TEXT PRIMARY KEY, org_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pipelines (
    id TEXT PRIMARY KEY, org_id TEXT NOT NULL, stages TEXT NOT NULL, is_default INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, org_id TEXT NOT NULL,
    search TEXT NOT NULL, external_id TEXT, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_org ON contacts (org_id, seq);
CREATE INDEX IF NOT EXISTS contacts_external_id ON contacts (org_id, external_id);
CREATE TABLE IF NOT EXISTS contact_emails (
    org_id TEXT NOT NULL, email TEXT NOT NULL,
    contact_id TEXT NOT NULL, contact_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS contact_emails_lookup ON contact_emails (org_id, email, contact_seq);
CREATE INDEX IF NOT EXISTS contact_emails_owner ON contact_emails (contact_id);
CREATE TABLE IF NOT EXISTS contact_phones (
    org_id TEXT NOT NULL, phone TEXT NOT NULL,
    contact_id TEXT NOT NULL, contact_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS contact_phones_lookup ON contact_phones (org_id, phone, contact_seq);
CREATE INDEX IF NOT EXISTS contact_phones_owner ON contact_phones (contact_id);
CREATE TABLE IF NOT EXISTS deals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, org_id TEXT NOT NULL,
    contact_id TEXT, title TEXT, external_id TEXT, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deals_external_id ON deals (org_id, external_id);
CREATE INDEX IF NOT EXISTS deals_org ON deals (org_id, seq);
CREATE INDEX IF NOT EXISTS deals_contact ON deals (org_id, contact_id, title, seq);
"""

# Side-table statements by lookup kind; table and column names are fixed here, never input.
_SIDE_LOOKUP = {
    "email": "SELECT contact_id FROM contact_emails WHERE org_id = ? AND email = ? "
    "ORDER BY contact_seq LIMIT 1",
    "phone": "SELECT contact_id FROM contact_phones WHERE org_id = ? AND phone = ? "
    "ORDER BY contact_seq LIMIT 1",
}
_SIDE_FILTER = {
    "email": " AND seq IN (SELECT contact_seq FROM contact_emails WHERE org_id = ? AND email = ?)",
    "phone": " AND seq IN (SELECT contact_seq FROM contact_phones WHERE org_id = ? AND phone = ?)",
}
_SIDE_INSERT = {
    "emails": "INSERT INTO contact_emails (org_id, email, contact_id, contact_seq) "
    "VALUES (?, ?, ?, ?)",
    "phones": "INSERT INTO contact_phones (org_id, phone, contact_id, contact_seq) "
    "VALUES (?, ?, ?, ?)",
}
_ID_TAKEN = {
    "contacts": "SELECT 1 FROM contacts WHERE id = ?",
    "deals": "SELECT 1 FROM deals WHERE id = ?",
}
_JSON_TEXT_MATCH = (
    " AND (json_type(data, ?) IN ('real', 'true', 'false', 'object', 'array') "
    "OR CAST(json_extract(data, ?) AS TEXT) = ?)"
)


@dataclass(frozen=True)
class Pipeline:
    id: str
    stages: tuple[str, ...]


@dataclass(frozen=True)
class OrgInfo:
    org_id: str
    name: str
    api_keys: tuple[str, ...]
    pipeline_id: str
    stages: tuple[str, ...]

    def to_json(self, api_key: str) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "api_key": api_key,
            "pipeline_id": self.pipeline_id,
            "stages": list(self.stages),
        }


def _dump(row: Row) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def _records(rows: Iterable[tuple[int, str]]) -> list[Record]:
    return [Record(seq, json.loads(data)) for seq, data in rows]


def _external_id(row: Row) -> str | None:
    """custom_fields->>'external_id', the document's idempotency key, kept indexed."""
    fields = row.get("custom_fields")
    return jsonb.to_text(fields.get("external_id")) if isinstance(fields, dict) else None


def _search_text(row: Row) -> str:
    first, last = row.get("first_name") or "", row.get("last_name") or ""
    parts = [first, last, f"{first} {last}", *(row.get("emails") or []), *(row.get("phones") or [])]
    return "\n".join(parts).lower()


class Store:
    def __init__(self, path: str | None = None) -> None:
        self._conn = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        if path:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One transaction at a time, committed on success, rolled back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Tx:
    """The operations of one transaction; every one of them is scoped to an organisation."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
        self._savepoints = 0

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: a failing bulk row undoes only its own writes."""
        self._savepoints += 1
        name = f"row{self._savepoints}"
        self._c.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._c.execute(f"ROLLBACK TO {name}")
            self._c.execute(f"RELEASE {name}")
            raise
        self._c.execute(f"RELEASE {name}")

    # --- organisations, keys, pipelines -------------------------------------

    def create_org(self, name: str, api_keys: Iterable[str], is_default: bool = False) -> OrgInfo:
        org_id, pipeline_id = str(uuid.uuid4()), str(uuid.uuid4())
        self._c.execute(
            "INSERT INTO orgs (id, name, is_default) VALUES (?, ?, ?)", (org_id, name, is_default)
        )
        self._c.execute(
            "INSERT INTO pipelines (id, org_id, stages, is_default) VALUES (?, ?, ?, 1)",
            (pipeline_id, org_id, json.dumps(DEFAULT_STAGES)),
        )
        for key in api_keys:
            self.add_key(org_id, key)
        info = self.org(org_id)
        assert info is not None
        return info

    def default_org(self) -> OrgInfo | None:
        found = self._c.execute("SELECT id FROM orgs WHERE is_default = 1").fetchone()
        return self.org(found[0]) if found else None

    def org(self, org_id: str) -> OrgInfo | None:
        found = self._c.execute("SELECT name FROM orgs WHERE id = ?", (org_id,)).fetchone()
        pipeline = self.default_pipeline(org_id)
        if not found or pipeline is None:
            return None
        keys = self._c.execute(
            "SELECT key FROM api_keys WHERE org_id = ? ORDER BY rowid", (org_id,)
        )
        return OrgInfo(org_id, found[0], tuple(k for (k,) in keys), pipeline.id, pipeline.stages)

    def add_key(self, org_id: str, key: str) -> None:
        self._c.execute("INSERT OR IGNORE INTO api_keys (key, org_id) VALUES (?, ?)", (key, org_id))

    def remove_key(self, key: str) -> str | None:
        """Revoke a key; the organisation it belonged to, or None if it was unknown."""
        owner = self.key_owner(key)
        if owner is not None:
            self._c.execute("DELETE FROM api_keys WHERE key = ?", (key,))
        return owner

    def key_owner(self, key: str) -> str | None:
        found = self._c.execute("SELECT org_id FROM api_keys WHERE key = ?", (key,)).fetchone()
        return found[0] if found else None

    def all_keys(self) -> dict[str, str]:
        return dict(self._c.execute("SELECT key, org_id FROM api_keys").fetchall())

    def pipeline(self, org_id: str, pipeline_id: str) -> Pipeline | None:
        found = self._c.execute(
            "SELECT id, stages FROM pipelines WHERE org_id = ? AND id = ?", (org_id, pipeline_id)
        ).fetchone()
        return Pipeline(found[0], tuple(json.loads(found[1]))) if found else None

    def default_pipeline(self, org_id: str) -> Pipeline | None:
        found = self._c.execute(
            "SELECT id, stages FROM pipelines WHERE org_id = ? AND is_default = 1", (org_id,)
        ).fetchone()
        return Pipeline(found[0], tuple(json.loads(found[1]))) if found else None

    # --- contacts -------------------------------------------------------------

    def contacts(self, org_id: str, hint: Hint | None = None) -> list[Record]:
        """Every contact of the org that the hint allows, in insertion order."""
        clause, args = "", [org_id]
        if hint is not None and hint.kind == "id":
            clause, args = " AND id = ?", [org_id, hint.value]
        elif hint is not None and hint.kind in _SIDE_FILTER:
            clause, args = _SIDE_FILTER[hint.kind], [org_id, org_id, hint.value]
        elif hint is not None and hint.kind == "custom_text":
            clause, more = _json_text_clause(hint)
            args += more
        # clause is one of the fixed fragments above; values travel as parameters.
        sql = "SELECT seq, data FROM contacts WHERE org_id = ?" + clause + " ORDER BY seq"  # noqa: S608
        return _records(self._c.execute(sql, args))

    def contact(self, org_id: str, contact_id: str) -> Row | None:
        found = self._c.execute(
            "SELECT data FROM contacts WHERE org_id = ? AND id = ?", (org_id, contact_id)
        ).fetchone()
        return json.loads(found[0]) if found else None

    def contact_id_by(self, org_id: str, kind: str, value: str) -> str | None:
        """The oldest contact of the org holding this email or phone."""
        found = self._c.execute(_SIDE_LOOKUP[kind], (org_id, value)).fetchone()
        return found[0] if found else None

    def id_taken(self, table: str, row_id: str) -> bool:
        return self._c.execute(_ID_TAKEN[table], (row_id,)).fetchone() is not None

    def insert_contact(self, org_id: str, row: Row) -> None:
        cursor = self._c.execute(
            "INSERT INTO contacts (id, org_id, search, external_id, data) VALUES (?, ?, ?, ?, ?)",
            (row["id"], org_id, _search_text(row), _external_id(row), _dump(row)),
        )
        assert cursor.lastrowid is not None
        self._index_contact(org_id, row, cursor.lastrowid)

    def update_contact(self, org_id: str, old_id: str, row: Row) -> None:
        found = self._c.execute(
            "SELECT seq FROM contacts WHERE org_id = ? AND id = ?", (org_id, old_id)
        ).fetchone()
        self._unindex_contact(old_id)
        self._c.execute(
            "UPDATE contacts SET id = ?, search = ?, external_id = ?, data = ? WHERE seq = ?",
            (row["id"], _search_text(row), _external_id(row), _dump(row), found[0]),
        )
        self._index_contact(org_id, row, found[0])

    def delete_contact(self, org_id: str, contact_id: str) -> None:
        self._unindex_contact(contact_id)
        self._c.execute("DELETE FROM contacts WHERE org_id = ? AND id = ?", (org_id, contact_id))

    def _index_contact(self, org_id: str, row: Row, seq: int) -> None:
        for column, sql in _SIDE_INSERT.items():
            values = dict.fromkeys(v for v in row.get(column) or [] if v is not None)
            self._c.executemany(sql, [(org_id, v, row["id"], seq) for v in values])

    def _unindex_contact(self, contact_id: str) -> None:
        self._c.execute("DELETE FROM contact_emails WHERE contact_id = ?", (contact_id,))
        self._c.execute("DELETE FROM contact_phones WHERE contact_id = ?", (contact_id,))

    def search_contacts(self, org_id: str, text: str, limit: int) -> list[Row]:
        rows = self._c.execute(
            "SELECT data FROM contacts WHERE org_id = ? AND instr(search, ?) > 0 "
            "ORDER BY seq LIMIT ?",
            (org_id, text.lower(), limit),
        )
        return [json.loads(data) for (data,) in rows]

    # --- deals ------------------------------------------------------------------

    def deals(self, org_id: str, hint: Hint | None = None) -> list[Record]:
        clause, args = "", [org_id]
        if hint is not None and hint.kind == "id":
            clause, args = " AND id = ?", [org_id, hint.value]
        elif hint is not None and hint.kind == "contact_id":
            clause, args = " AND contact_id = ?", [org_id, hint.value]
        elif hint is not None and hint.kind == "custom_text":
            clause, more = _json_text_clause(hint)
            args += more
        sql = "SELECT seq, data FROM deals WHERE org_id = ?" + clause + " ORDER BY seq"  # noqa: S608
        return _records(self._c.execute(sql, args))

    def deal_by_title(self, org_id: str, contact_id: str, title: str) -> str | None:
        found = self._c.execute(
            "SELECT id FROM deals WHERE org_id = ? AND contact_id = ? AND title = ? "
            "ORDER BY seq LIMIT 1",
            (org_id, contact_id, title),
        ).fetchone()
        return found[0] if found else None

    def insert_deal(self, org_id: str, row: Row) -> None:
        self._c.execute(
            "INSERT INTO deals (id, org_id, contact_id, title, external_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                org_id,
                row.get("contact_id"),
                row.get("title"),
                _external_id(row),
                _dump(row),
            ),
        )

    def update_deal(self, org_id: str, old_id: str, row: Row) -> None:
        self._c.execute(
            "UPDATE deals SET id = ?, contact_id = ?, title = ?, external_id = ?, data = ? "
            "WHERE org_id = ? AND id = ?",
            (
                row["id"],
                row.get("contact_id"),
                row.get("title"),
                _external_id(row),
                _dump(row),
                org_id,
                old_id,
            ),
        )

    def delete_deal(self, org_id: str, deal_id: str) -> None:
        self._c.execute("DELETE FROM deals WHERE org_id = ? AND id = ?", (org_id, deal_id))

    # --- housekeeping -----------------------------------------------------------

    def clear_data(self) -> None:
        # Not executescript: it would commit the transaction under way.
        self._c.execute("DELETE FROM contact_emails")
        self._c.execute("DELETE FROM contact_phones")
        self._c.execute("DELETE FROM contacts")
        self._c.execute("DELETE FROM deals")


def _json_text_clause(hint: Hint) -> tuple[str, list[Any]]:
    """Rows whose custom_fields->>key may equal the value.

    external_id is indexed and exact. For any other key, json_extract gives integers and
    strings as PostgreSQL's ->> would and every other type is let through: a superset,
    checked again in Python.
    """
    if hint.key == "external_id":
        return " AND external_id = ?", [hint.value]
    if '"' in hint.key or "\\" in hint.key:
        return "", []
    path = f'$.custom_fields."{hint.key}"'
    return _JSON_TEXT_MATCH, [path, path, hint.value]
