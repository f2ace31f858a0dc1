"""A synthetic resident table for examples, tests and benchmarks (no real person in it).

Columns: 氏名-like identifier, age, sex, 全国地方公共団体コード of a real
municipality (with check digit), household size and an income band. Residents
are spread over municipalities with a heavy-tailed law, so small towns hold
rare combinations — the situation anonymization exists for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from tsunagu.anonymize.hierarchy import municipality_names
from tsunagu.core.ids import IdKind, complete

INCOME_BANDS = [
    "0-99万円",
    "100-199万円",
    "200-299万円",
    "300-399万円",
    "400-499万円",
    "500-699万円",
    "700-999万円",
    "1000-1499万円",
    "1500-1999万円",
    "2000万円以上",
]


def residents(
    rows: int, seed: int = 2019, prefectures: tuple[str, ...] | None = None
) -> pl.DataFrame:
    """``rows`` synthetic residents, identical for the same seed.

    ``prefectures`` (two-digit codes) restricts the municipalities drawn from.
    """
    rng = np.random.default_rng(seed)
    codes = sorted(c for c in municipality_names() if not prefectures or c[:2] in prefectures)
    lgcodes = pl.Series([complete(IdKind.LGCODE, c) for c in codes], dtype=pl.String)
    popularity = 1.0 / np.arange(1, len(codes) + 1) ** 0.9
    popularity = rng.permutation(popularity)
    popularity /= popularity.sum()
    age = np.clip(rng.normal(46, 22, rows), 0, 104).astype(np.int64)
    income_index = np.clip(rng.poisson(3.0, rows) + (age > 25) + (age > 45), 0, 9)
    return pl.DataFrame(
        {
            "resident_id": np.arange(1, rows + 1, dtype=np.int64),
            "age": age,
            "sex": pl.Series(["男", "女"], dtype=pl.String).gather(rng.integers(0, 2, rows)),
            "municipality": lgcodes.gather(rng.choice(len(codes), rows, p=popularity)),
            "household_size": np.clip(rng.geometric(0.38, rows), 1, 9).astype(np.int64),
            "income_band": pl.Series(INCOME_BANDS, dtype=pl.String).gather(income_index),
        }
    )


def write_residents(
    path: Path, rows: int, seed: int = 2019, prefectures: tuple[str, ...] | None = None
) -> Path:
    residents(rows, seed, prefectures).write_csv(path)
    return path


RESIDENT_CONFIG = """\
algorithm: optimal
attributes:
  resident_id: {role: identifier, kind: linking_code}
  age: {role: quasi_identifier, hierarchy: {type: interval, widths: [5, 10, 20, 40]}}
  sex: {role: quasi_identifier}
  municipality: {role: quasi_identifier, hierarchy: {type: municipality}}
  household_size: {role: quasi_identifier, hierarchy: {type: interval, widths: [2, 4, 8]}}
  income_band: {role: sensitive}
privacy:
  k: 10
suppression_limit: 0.02
peculiar:
  top_bottom_coding:
    age: {top: 90}
other_measures:
  - 住民基本台帳からの抽出データ。公表前に担当課で確認する。
"""
