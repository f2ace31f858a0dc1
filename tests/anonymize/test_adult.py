"""The acceptance runs on UCI Adult, checked with the independent pycanon library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
from pycanon import anonymity

from tests.anonymize.datasets import ADULT_QI, ADULT_SENSITIVE, adult_path
from tsunagu.anonymize import engine
from tsunagu.anonymize.config import Algorithm, AnonymizeConfig, parse_config, simple_config

SUPPRESSION = 0.05


def _config(k: int, algorithm: Algorithm = Algorithm.OPTIMAL, **more: Any) -> AnonymizeConfig:
    return simple_config(
        ADULT_QI, [ADULT_SENSITIVE], k=k, suppression=SUPPRESSION, algorithm=algorithm, **more
    )


def _check_with_pycanon(output: Path, k: int, l: int) -> pd.DataFrame:  # noqa: E741
    released = pd.read_csv(output, dtype=str, keep_default_na=False)
    assert anonymity.k_anonymity(released, ADULT_QI) >= k
    assert anonymity.l_diversity(released, ADULT_QI, [ADULT_SENSITIVE]) >= l
    return released


@pytest.mark.parametrize("k", [2, 5, 10, 20, 50])
def test_optimal_satisfies_k_and_l_per_pycanon(k: int, tmp_path: Path) -> None:
    source = adult_path()
    output = tmp_path / "out.csv"
    report = engine.run(_config(k, l=2), source, output)
    released = _check_with_pycanon(output, k, 2)
    rows = report["rows_in"]
    assert rows == 32561
    assert report["suppressed_rows"] <= SUPPRESSION * rows
    assert len(released) == rows - report["suppressed_rows"] == report["output"]["rows"]
    assert report["achieved"]["k"] == anonymity.k_anonymity(released, ADULT_QI)
    assert report["achieved"]["l_distinct"] == anonymity.l_diversity(
        released, ADULT_QI, [ADULT_SENSITIVE]
    )
    assert report["loss"]["generalization_height"] == sum(report["search"]["levels"].values())


def test_mondrian_satisfies_k_and_l_with_less_loss(tmp_path: Path) -> None:
    source = adult_path()
    optimal = engine.run(_config(10, l=2), source, tmp_path / "optimal.csv")
    mondrian = engine.run(_config(10, Algorithm.MONDRIAN, l=2), source, tmp_path / "m.csv")
    _check_with_pycanon(tmp_path / "m.csv", 10, 2)
    assert mondrian["suppressed_rows"] == 0
    assert mondrian["loss"]["gcp"] < optimal["loss"]["gcp"]


def test_entropy_l_and_t_closeness(tmp_path: Path) -> None:
    """Occupation (14 values) as the sensitive attribute: entropy 3-diversity and t = 0.3."""
    qi = [name for name in ADULT_QI if name != "occupation"]
    attributes: dict[str, Any] = {name: {"role": "quasi_identifier"} for name in qi}
    attributes["occupation"] = {"role": "sensitive"}
    config = parse_config(
        {
            "attributes": attributes,
            "privacy": {
                "k": 5,
                "l_diversity": {"l": 3, "variant": "entropy"},
                "t_closeness": {"t": 0.3},
            },
            "suppression_limit": SUPPRESSION,
        }
    )
    output = tmp_path / "out.csv"
    report = engine.run(config, adult_path(), output)
    released = pd.read_csv(output, dtype=str, keep_default_na=False)
    assert anonymity.entropy_l_diversity(released, qi, ["occupation"]) >= 3
    assert report["achieved"]["l_entropy"] >= 3 - 1e-9
    assert report["achieved"]["t"] <= 0.3
    assert report["suppressed_rows"] <= SUPPRESSION * report["rows_in"]


def test_column_types_contract(tmp_path: Path) -> None:
    """Generalized columns become text; every other column keeps its type."""
    source = adult_path()
    output = tmp_path / "out.parquet"
    config = _config(5, l=2, keep=["hours-per-week", "relationship"])
    report = engine.run(config, source, output)
    before = pl.read_csv(source).schema
    after = pl.read_parquet(output).schema
    generalized = set(report["attributes"]["generalized"])
    assert generalized and generalized != set(ADULT_QI)
    for name in report["attributes"]["released_columns"]:
        expected = pl.String if name in generalized else before[name]
        assert after[name] == expected, name
    assert after["hours-per-week"] == pl.Int64
    assert "fnlwgt" not in after  # unclassified columns are deleted by default


def test_runs_are_deterministic(tmp_path: Path) -> None:
    source = adult_path()
    first = engine.run(_config(10, l=2), source, tmp_path / "a.csv")
    second = engine.run(_config(10, l=2), source, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    for report in (first, second):
        report.pop("seconds")
        report["search"].pop("seconds")
        report["output"].pop("name")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
