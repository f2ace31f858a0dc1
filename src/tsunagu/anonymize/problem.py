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
MAX_KEY = 2**62


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
        if span * card >= MAX_KEY:
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


def class_index(sorted_keys: np.ndarray) -> np.ndarray:
    """0-based class number of each entry of a sorted key array."""
    changes = np.empty(len(sorted_keys), dtype=np.int64)
    if len(sorted_keys):
        changes[0] = 0
        np.cumsum(sorted_keys[1:] != sorted_keys[:-1], out=changes[1:])
    return changes


POLARS_ROWS = 50_000  # below this, Polars' fixed cost per query outweighs its speed


@dataclass(frozen=True)
class Groups:
    """Sums per distinct key (and sensitive code), sorted by key then sensitive code."""

    key: np.ndarray
    sensitive: np.ndarray | None
    weights: np.ndarray
    cost: np.ndarray


def group_rows(
    key: np.ndarray, weights: np.ndarray, cost: np.ndarray, sensitive: np.ndarray | None
) -> Groups:
    """Sum rows and cost per key (and sensitive code).

    Large tables — the first checks of a big input — go through a Polars
    group-by; the small tables of rolled-up checks are sorted with NumPy, which
    for a few thousand rows is several times faster than starting a query.
    """
    if len(key) >= POLARS_ROWS:
        keys = ["key"] if sensitive is None else ["key", "s"]
        columns = {"key": key, "w": weights, "c": cost}
        if sensitive is not None:
            columns["s"] = sensitive
        grouped = (
            pl.DataFrame(columns)
            .group_by(keys)
            .agg(pl.col("w").sum(), pl.col("c").sum())
            .sort(keys)
        )
        return Groups(
            grouped["key"].to_numpy(),
            grouped["s"].to_numpy() if sensitive is not None else None,
            grouped["w"].to_numpy().astype(np.int64),
            grouped["c"].to_numpy(),
        )
    order = np.lexsort((key,) if sensitive is None else (sensitive, key))
    sorted_key = key[order]
    change = np.ones(len(order), dtype=bool)
    change[1:] = sorted_key[1:] != sorted_key[:-1]
    sorted_sensitive = None
    if sensitive is not None:
        sorted_sensitive = sensitive[order]
        change[1:] |= sorted_sensitive[1:] != sorted_sensitive[:-1]
    starts = np.flatnonzero(change)
    return Groups(
        sorted_key[starts],
        sorted_sensitive[starts] if sorted_sensitive is not None else None,
        np.add.reduceat(weights[order], starts) if len(starts) else np.zeros(0, np.int64),
        np.add.reduceat(cost[order], starts) if len(starts) else np.zeros(0),
    )


def group_classes(problem: Problem, key: np.ndarray, cost: np.ndarray) -> Grouped:
    """Equivalence classes of ``key`` with their sensitive counts (any number of attributes).

    One grouping by (key, first sensitive value) yields both the classes and
    that attribute's counts; further sensitive attributes need one more each.
    """
    codes = problem.sensitive_codes
    first = group_rows(key, problem.weights, cost, codes[0] if codes else None)
    if first.sensitive is None:
        return Grouped(first.key, first.weights, first.cost, [])
    cls = class_index(first.key)
    pairs = [Pairs(cls, first.sensitive, first.weights.astype(float))]
    for more_codes in codes[1:]:
        more = group_rows(key, problem.weights, np.zeros(len(key)), more_codes)
        values = more_codes[:0] if more.sensitive is None else more.sensitive
        pairs.append(Pairs(class_index(more.key), values, more.weights.astype(float)))
    return Grouped(
        np.unique(first.key),
        np.bincount(cls, first.weights).astype(np.int64),
        np.bincount(cls, first.cost),
        pairs,
    )
