"""Where the shared benchmark data sets are (``shared/`` lies beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ADULT = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "adult.csv"
ADULT_QI = [
    "age",
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "race",
    "sex",
    "native-country",
]
ADULT_SENSITIVE = "salary-class"


def adult_path() -> Path:
    """The adult data set; a missing file fails in CI and skips elsewhere."""
    if not ADULT.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{ADULT} is missing in CI (shared/ must lie beside the repository)")
        pytest.skip(f"{ADULT} not found: shared/ is not beside this checkout")
    return ADULT
