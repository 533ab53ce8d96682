"""The two tables the CRM exposes through rest-api-proxy, column by column."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, NamedTuple


class ColumnType(enum.Enum):
    UUID = "uuid"
    TEXT = "text"
    TEXT_ARRAY = "text[]"
    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMPTZ = "timestamp with time zone"
    JSONB = "jsonb"


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, ColumnType]

    def column(self, name: str) -> ColumnType | None:
        return self.columns.get(name)


_T = ColumnType

CONTACTS = Table(
    "contacts",
    {
        "id": _T.UUID,
        "first_name": _T.TEXT,
        "last_name": _T.TEXT,
        "phones": _T.TEXT_ARRAY,
        "emails": _T.TEXT_ARRAY,
        "source": _T.TEXT,
        "tags": _T.TEXT_ARRAY,
        "assignee_id": _T.UUID,
        "company_id": _T.UUID,
        "description": _T.TEXT,
        "opt_in_status": _T.BOOLEAN,
        "custom_fields": _T.JSONB,
        "created_at": _T.TIMESTAMPTZ,
        "updated_at": _T.TIMESTAMPTZ,
    },
)

DEALS = Table(
    "deals",
    {
        "id": _T.UUID,
        "title": _T.TEXT,
        "value": _T.NUMERIC,
        "currency": _T.TEXT,
        "stage": _T.TEXT,
        "pipeline_id": _T.UUID,
        "contact_id": _T.UUID,
        "description": _T.TEXT,
        "expected_close_date": _T.DATE,
        "probability": _T.NUMERIC,
        "source": _T.TEXT,
        "tags": _T.TEXT_ARRAY,
        "owner_id": _T.UUID,
        "company_id": _T.UUID,
        "custom_fields": _T.JSONB,
        "products": _T.JSONB,
        "created_at": _T.TIMESTAMPTZ,
        "updated_at": _T.TIMESTAMPTZ,
    },
)

TABLES: dict[str, Table] = {t.name: t for t in (CONTACTS, DEALS)}

# Columns PostgREST lets a client write but the CRM's own validation never sees.
SYSTEM_COLUMNS = ("id", "created_at", "updated_at")

DEFAULT_STAGES = ("new", "qualified", "proposal", "won", "lost")


Row = dict[str, Any]


class Record(NamedTuple):
    """A stored row and its insertion order (PostgreSQL's heap order, near enough)."""

    seq: int
    row: Row


@dataclass(frozen=True)
class Hint:
    """An indexed lookup that narrows the rows a filter can match; never widens them."""

    kind: str  # "id", "contact_id", "email", "phone" or "custom_text"
    value: str
    key: str = ""
