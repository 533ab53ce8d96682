"""A rest-api-proxy request's query string, read once and applied to candidate rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from crm_sandbox.postgrest import grammar, literals
from crm_sandbox.postgrest.evaluate import Predicate, compile_filter, compile_logic
from crm_sandbox.postgrest.grammar import Filter
from crm_sandbox.postgrest.logic import LOGIC_PARAMS, Logic, parse_logic
from crm_sandbox.postgrest.shape import Projection, Sorter, compile_order, compile_select
from crm_sandbox.schema import Hint, Record, Row, Table


@dataclass
class Query:
    table: Table
    filters: list[Filter | Logic] = field(default_factory=list)
    predicates: list[Predicate] = field(default_factory=list)
    projection: Projection | None = None
    sorter: Sorter | None = None
    limit: int | None = None
    offset: int = 0

    @property
    def has_filters(self) -> bool:
        return bool(self.filters)

    def matches(self, row: Row) -> bool:
        return all(predicate(row) is True for predicate in self.predicates)

    def apply(self, records: Sequence[Record]) -> list[Record]:
        """Filter, order and page the candidates, as GET does."""
        kept = [r for r in records if self.matches(r.row)]
        if self.sorter is not None:
            kept = self.sorter(kept)
        end = None if self.limit is None else self.offset + self.limit
        return kept[self.offset : end]

    def project(self, row: Row) -> dict[str, object]:
        if self.projection is None:
            return {name: row.get(name) for name in self.table.columns}
        return self.projection(row)

    def hint(self) -> Hint | None:
        """The most selective indexed lookup the filters allow."""
        found: dict[str, Hint] = {}
        for f in self.filters:
            hint = _hint(f) if isinstance(f, Filter) else None
            if hint is not None:
                found.setdefault(hint.kind, hint)
        for kind in ("id", "phone", "email", "contact_id", "custom_text"):
            if kind in found:
                return found[kind]
        return None


def parse_query(table: Table, params: Sequence[tuple[str, str]]) -> Query:
    query = Query(table)
    for key, value in params:
        if key == "select":
            query.projection = compile_select(table, grammar.parse_select(value, table.name))
        elif key == "order":
            query.sorter = compile_order(table, grammar.parse_order(value))
        elif key == "limit":
            query.limit = grammar.parse_count("limit", value)
        elif key == "offset":
            query.offset = grammar.parse_count("offset", value)
        elif key in LOGIC_PARAMS:
            tree = parse_logic(key, value)
            query.predicates.append(compile_logic(table, tree))
            query.filters.append(tree)
        elif key not in grammar.RESERVED_PARAMS:
            f = grammar.parse_filter(key, value)
            query.predicates.append(compile_filter(table, f))
            query.filters.append(f)
    return query


def _hint(f: Filter) -> Hint | None:
    if f.negated:
        return None
    path = f.field
    if not path.steps:
        if f.operator == "eq" and path.column in ("id", "contact_id"):
            return Hint(path.column, literals.read_uuid(f.operand))
        if f.operator == "cs" and path.column in ("phones", "emails"):
            wanted = [w for w in literals.read_array(f.operand) if w is not None]
            return Hint(path.column[:-1], wanted[0]) if wanted else None
        return None
    if f.operator == "eq" and path.column == "custom_fields" and len(path.steps) == 1:
        return Hint("custom_text", f.operand, path.steps[0].key) if path.yields_text else None
    return None
