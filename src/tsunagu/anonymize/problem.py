"""The input reduced to what anonymization needs: distinct rows, encoded as integers.

Rows that agree on every quasi-identifier and sensitive attribute are merged
into one weighted row, and every value becomes its level-0 code. Both
algorithms and all metrics work on this table, so its size — not the input's —
is what the search costs; a million-row file is read once, in a stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from tsunagu.anonymize.config import AnonymizeConfig, Privacy
from tsunagu.anonymize.hierarchy import Levels, compile_levels
from tsunagu.anonymize.privacy import Pairs, Sensitive

WEIGHT = "__rows"
_MAX_KEY = 2**62


@dataclass(frozen=True)
class Problem:
    qis: list[Levels]
    codes: list[np.ndarray]  # per quasi-identifier: level-0 code of each distinct row
    weights: np.ndarray  # input rows behind each distinct row
    sensitive: list[Sensitive]
    sensitive_codes: list[np.ndarray]
    privacy: Privacy
    max_suppressed: int
    _levels: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def rows(self) -> int:
        return int(self.weights.sum())

    @property
    def width(self) -> int:
        return len(self.qis)

    def at_level(self, dim: int, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Label code and weighted NCP of every distinct row for one attribute at one level.

        Memoized: the lattice search asks for the same (attribute, level) pairs
        over and over, and two array lookups per check are cheaper than gathers.
        """
        cached = self._levels.get((dim, level))
        if cached is None:
            q = self.qis[dim]
            codes = q.codes[level][self.codes[dim]]
            cached = (codes, self.weights * q.ncp[level][codes])
            self._levels[(dim, level)] = cached
        return cached

    def level_codes(self, node: Sequence[int]) -> list[np.ndarray]:
        """Each quasi-identifier's label code per distinct row at the node's levels."""
        return [self.at_level(dim, h)[0] for dim, h in enumerate(node)]

    def weighted_penalty(self, node: Sequence[int]) -> np.ndarray:
        """Rows × NCP summed over the quasi-identifiers, per distinct row at ``node``."""
        total = np.zeros(len(self.weights))
        for dim, h in enumerate(node):
            total += self.at_level(dim, h)[1]
        return total


def combine(columns: Sequence[np.ndarray], cardinalities: Sequence[int]) -> np.ndarray:
    """One int64 key per row for a tuple of code columns (compressing if it would overflow)."""
    key = np.zeros(len(columns[0]) if columns else 0, dtype=np.int64)
    span = 1
    for column, card in zip(columns, cardinalities, strict=True):
        if span * card >= _MAX_KEY:
            _, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64)
            span = int(key.max()) + 1 if len(key) else 1
        key = key * card + column
        span *= card
    return key


def dense_codes(column: pl.Series) -> np.ndarray:
    """0-based codes of the sorted distinct values (nulls sort first as their own value)."""
    ranked = column.rank("dense").fill_null(0)
    offset = 0 if column.null_count() else 1
    return (ranked.to_numpy() - offset).astype(np.int64)


def _sensitive(column: pl.Series, weights: np.ndarray) -> tuple[Sensitive, np.ndarray]:
    codes = dense_codes(column)
    share = np.bincount(codes, weights=weights) / weights.sum()
    ordered = column.dtype.is_numeric() or column.dtype.is_temporal()
    return Sensitive(column.name, share, ordered), codes


def build_problem(base: pl.DataFrame, config: AnonymizeConfig) -> Problem:
    """Compile hierarchies and encode the aggregated table ``base`` (one column per attribute)."""
    weights = base[WEIGHT].to_numpy().astype(np.int64)
    qis, codes = [], []
    for name in config.quasi_identifiers:
        column = base[name]
        spec = config.attributes[name].hierarchy
        levels = compile_levels(name, column.unique().sort(), spec)
        qis.append(levels)
        codes.append(dense_codes(column))
    sensitive, sensitive_codes = [], []
    for name in config.sensitive:
        sens, sens_codes = _sensitive(base[name], weights)
        sensitive.append(sens)
        sensitive_codes.append(sens_codes)
    rows = int(weights.sum())
    return Problem(
        qis=qis,
        codes=codes,
        weights=weights,
        sensitive=sensitive,
        sensitive_codes=sensitive_codes,
        privacy=config.privacy,
        max_suppressed=int(np.floor(config.suppression_limit * rows + 1e-9)),
    )


@dataclass(frozen=True)
class Grouped:
    """Equivalence classes of a key: sorted keys, sizes, summed row costs, sensitive counts."""

    keys: np.ndarray
    sizes: np.ndarray
    penalty: np.ndarray
    pairs: list[Pairs]


def _class_index(sorted_keys: np.ndarray) -> np.ndarray:
    """0-based class number of each entry of a sorted key array."""
    changes = np.empty(len(sorted_keys), dtype=np.int64)
    if len(sorted_keys):
        changes[0] = 0
        np.cumsum(sorted_keys[1:] != sorted_keys[:-1], out=changes[1:])
    return changes


def _pairs(grouped: pl.DataFrame, column: str) -> Pairs:
    cls = _class_index(grouped["key"].to_numpy())
    return Pairs(cls, grouped[column].to_numpy(), grouped["w"].to_numpy().astype(float))


def class_totals(
    problem: Problem, key: np.ndarray, cost: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and summed cost per class, unordered: all a k-anonymity check needs."""
    grouped = (
        pl.DataFrame({"key": key, "w": problem.weights, "c": cost})
        .group_by("key")
        .agg(pl.col("w").sum(), pl.col("c").sum())
    )
    return grouped["w"].to_numpy().astype(np.int64), grouped["c"].to_numpy()


def group_classes(problem: Problem, key: np.ndarray, cost: np.ndarray) -> Grouped:
    """Group distinct rows by ``key`` with Polars (the hot path of every check).

    One group-by over (key, first sensitive value) yields both the classes and
    the sensitive counts; further sensitive attributes need one more each.
    """
    names = [f"s{i}" for i in range(len(problem.sensitive_codes))]
    frame = pl.DataFrame(
        {
            "key": key,
            "w": problem.weights,
            "c": cost,
            **dict(zip(names, problem.sensitive_codes, strict=True)),
        }
    )
    first = names[:1]
    grouped = (
        frame.group_by("key", *first).agg(pl.col("w").sum(), pl.col("c").sum()).sort("key", *first)
    )
    all_keys = grouped["key"].to_numpy()
    keys, starts = np.unique(all_keys, return_index=True)
    sizes = np.add.reduceat(grouped["w"].to_numpy(), starts) if len(keys) else np.zeros(0)
    penalty = np.add.reduceat(grouped["c"].to_numpy(), starts) if len(keys) else np.zeros(0)
    pairs = [_pairs(grouped, name) for name in first]
    for name in names[1:]:
        more = frame.group_by("key", name).agg(pl.col("w").sum()).sort("key", name)
        pairs.append(_pairs(more, name))
    return Grouped(keys, sizes.astype(np.int64), penalty, pairs)
