"""The decision-rule language: evaluated as data, never executed; malformed rules refused."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tsunagu.packs import PackError
from tsunagu.procedure import rules

CONTEXT = {
    "form": {"moved_in_on": "2025-04-01", "copies": 2, "tags": ["a"]},
    "evidence": {"juminhyo": {"status": "転出", "moved_out": {"date": "2025-03-30"}}},
}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ({"eq": [{"var": "evidence.juminhyo.status"}, "転出"]}, True),
        ({"ne": [{"var": "evidence.juminhyo.status"}, "転出"]}, False),
        ({"le": [{"var": "evidence.juminhyo.moved_out.date"}, {"var": "form.moved_in_on"}]}, True),
        ({"gt": [{"var": "form.copies"}, 1]}, True),
        ({"lt": [{"var": "form.copies"}, "3"]}, False),  # number vs text never compares
        ({"ge": [{"var": "form.missing"}, 1]}, False),  # missing values never decide
        ({"in": [{"var": "evidence.juminhyo.status"}, ["転出", "死亡"]]}, True),
        ({"present": "evidence.juminhyo"}, True),
        ({"present": "evidence.kazei"}, False),
        ({"not": {"present": "form.tags"}}, False),
        ({"all": [True, {"eq": [1, 1]}]}, True),
        ({"any": [False, {"eq": [1, 2]}]}, False),
        ({"date_offset": ["2025-03-01", 30]}, "2025-03-31"),
        ({"date_offset": ["not a date", 1]}, None),
        ({"var": "form.tags.0"}, "a"),
    ],
)
def test_evaluate(expression: Any, value: Any) -> None:
    rules.check(expression, "test")
    assert rules.evaluate(expression, CONTEXT) == value


def test_today_is_the_date_in_japan() -> None:
    assert date.fromisoformat(rules.evaluate({"today": None}, {})) >= date(2025, 1, 1)


@pytest.mark.parametrize(
    "expression",
    [
        {"__import__": "os"},
        {"eq": [1]},
        {"var": ["a"]},
        {"all": "x"},
        {"eq": [1, 2], "ne": [1, 2]},
        {"not": {"lambda": 1}},
    ],
)
def test_malformed_rules_are_pack_errors(expression: Any) -> None:
    with pytest.raises(PackError):
        rules.check(expression, "test")


def test_deep_nesting_is_refused() -> None:
    expression: Any = True
    for _ in range(rules.MAX_DEPTH + 2):
        expression = {"not": expression}
    with pytest.raises(PackError):
        rules.check(expression, "test")


def test_first_matching_rule_decides() -> None:
    parsed = rules.parse(
        [
            {"when": {"eq": [{"var": "form.copies"}, 9]}, "decision": "rejected",
             "reason": {"ja": "a", "en": "a"}},
            {"when": {"gt": [{"var": "form.copies"}, 1]}, "decision": "approved",
             "reason": {"ja": "b", "en": "b"}},
        ],
        "test",
    )  # fmt: skip
    decided = rules.decide(parsed, CONTEXT)
    assert decided is not None and decided.decision == "approved"
    assert rules.decide(parsed, {"form": {"copies": 1}}) is None
