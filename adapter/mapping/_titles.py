"""Deal titles from configurable templates such as `Order {name}`.

Only bare `{placeholder}` fields are allowed: no attribute access, indexing,
conversions or format specs, so a template can never reach into our objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter

from adapter.crm.normalize import normalize_title


def placeholders(template: str) -> set[str]:
    """The placeholder names of a template; ValueError when it is malformed."""
    names: set[str] = set()
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"template {template!r}: {exc}") from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"template {template!r}: use plain {{name}} placeholders only")
        names.add(field)
    return names


def check_template(template: str, allowed: set[str], identifying: set[str]) -> str:
    """Validate a title template: known placeholders, at least one that identifies the record.

    A title without an identifying placeholder would be the same for every record,
    and the CRM's `skip_if_exists` on (contact, title) would then drop later ones.
    """
    names = placeholders(template)
    unknown = names - allowed
    if unknown:
        raise ValueError(
            f"template {template!r}: unknown placeholder(s) {sorted(unknown)}; "
            f"allowed: {sorted(allowed)}"
        )
    if identifying and not names & identifying:
        raise ValueError(
            f"template {template!r} must contain one of {sorted(identifying)} "
            "so that each record gets its own title"
        )
    return template


def render(template: str, values: Mapping[str, str]) -> str:
    """The title, cut to the CRM's 200 characters; never empty."""
    parts: list[str] = []
    for literal, field, _spec, _conversion in Formatter().parse(template):
        parts.append(literal)
        if field is not None:
            parts.append(values.get(field, ""))
    return normalize_title("".join(parts)) or "Untitled"
