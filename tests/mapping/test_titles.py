from __future__ import annotations

import pytest

from adapter.mapping._titles import check_template, placeholders, render


def test_render_fills_placeholders() -> None:
    assert render("Order {name}", {"name": "#1001"}) == "Order #1001"


def test_render_leaves_missing_values_empty_and_collapses_spaces() -> None:
    assert render("{form}: {person}", {"form": "Contact"}) == "Contact:"


def test_render_cuts_to_the_crms_200_characters() -> None:
    assert len(render("Order {name}", {"name": "x" * 500})) == 200


def test_render_never_gives_an_empty_title() -> None:
    assert render("{person}", {}) == "Untitled"


def test_placeholders_lists_field_names() -> None:
    assert placeholders("{form} - {person} ({submission})") == {"form", "person", "submission"}


@pytest.mark.parametrize("template", ["{a.b}", "{a[0]}", "{a!r}", "{a:>10}", "{0}", "{"])
def test_templates_with_more_than_plain_names_are_refused(template: str) -> None:
    with pytest.raises(ValueError, match="template"):
        placeholders(template)


def test_check_template_requires_an_identifying_placeholder() -> None:
    with pytest.raises(ValueError, match="must contain one of"):
        check_template("Order from {shop}", {"shop", "name"}, {"name"})
    assert check_template("Order {name}", {"shop", "name"}, {"name"}) == "Order {name}"
