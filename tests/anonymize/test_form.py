"""The configuration form: choices become a valid YAML configuration and back."""

from __future__ import annotations

import pytest

from tsunagu.anonymize import form
from tsunagu.anonymize.config import load_config
from tsunagu.anonymize.errors import AnonymizeError

COLUMNS = [("name", "text"), ("birth", "date"), ("age", "number"), ("city", "text"),
           ("job", "text"), ("income", "number")]  # fmt: skip


def _choices() -> tuple[list[form.ColumnChoice], form.PrivacyChoice]:
    chosen = form.default_choices(COLUMNS)
    roles = {
        "name": ("identifier", "suppress"),
        "birth": ("quasi_identifier", "date"),
        "age": ("quasi_identifier", "interval"),
        "city": ("quasi_identifier", "municipality"),
        "job": ("quasi_identifier", "suppress"),
        "income": ("sensitive", "interval"),  # not used: only quasi-identifiers have one
    }
    for choice in chosen:
        choice.role, choice.hierarchy = roles[choice.name]
    chosen[1].date_levels = ["year", "decade"]
    chosen[2].widths = "5、10 20"
    privacy = form.PrivacyChoice(k="10", l="2", l_variant="entropy", t="0.3",
                                 suppression_percent="2.5")  # fmt: skip
    return chosen, privacy


def test_choices_make_a_valid_configuration_and_come_back() -> None:
    chosen, privacy = _choices()
    text = form.to_yaml(form.build_config(chosen, privacy))
    parsed = load_config(text)
    assert parsed.identifiers == ["name"] and parsed.sensitive == ["income"]
    assert parsed.quasi_identifiers == ["birth", "age", "city", "job"]
    assert parsed.attributes["age"].hierarchy.widths == [5, 10, 20]  # type: ignore[union-attr]
    assert parsed.attributes["birth"].hierarchy.levels == ["year", "decade"]  # type: ignore[union-attr]
    assert parsed.attributes["city"].hierarchy.type == "municipality"  # type: ignore[union-attr]
    assert parsed.privacy.k == 10 and parsed.suppression_limit == 0.025
    assert (
        parsed.privacy.l_diversity is not None and parsed.privacy.l_diversity.variant == "entropy"
    )
    back = form.choices_from_config(COLUMNS, text)
    assert back is not None
    columns, again = back
    assert [(c.role, c.hierarchy) for c in columns] == [(c.role, c.hierarchy) for c in chosen]
    assert columns[2].widths == "5, 10, 20" and columns[1].date_levels == ["year", "decade"]
    assert (again.k, again.l, again.l_variant, again.t, again.suppression_percent) == (
        "10", "2", "entropy", "0.3", "2.5",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, p: setattr(c[2], "widths", "five"), "age widths"),
        (lambda c, p: setattr(c[1], "date_levels", []), "date level"),
        (lambda c, p: setattr(p, "k", "many"), "k"),
    ],
)
def test_mistakes_are_named(change: object, message: str) -> None:
    chosen, privacy = _choices()
    change(chosen, privacy)  # type: ignore[operator]
    with pytest.raises(AnonymizeError) as raised:
        form.build_config(chosen, privacy)
    assert message in raised.value.message_en


def test_a_configuration_the_form_cannot_show_is_left_to_the_yaml() -> None:
    assert form.choices_from_config(COLUMNS, "attributes: [1, 2]") is None
    assert form.choices_from_config(COLUMNS, "{{{") is None
