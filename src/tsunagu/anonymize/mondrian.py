"""Mondrian multidimensional partitioning (LeFevre et al. 2006) with local recoding.

The data are cut recursively: an ordered attribute (number, date) at the
weighted median, a categorical one into the children of its current
hierarchy node, always along the attribute whose values in the partition are
widest; a cut is made only when every part still satisfies the privacy
models. Each final partition releases, per attribute, the range of its values
or the lowest hierarchy node covering them. Loss is usually lower than with
full-domain generalization because each region is generalized only as much
as its own density requires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsunagu.anonymize import errors
from tsunagu.anonymize.hierarchy import Levels
from tsunagu.anonymize.lattice import Progress
from tsunagu.anonymize.metrics import Outcome
from tsunagu.anonymize.privacy import Pairs, violations
from tsunagu.anonymize.problem import Problem


@dataclass
class _Part:
    rows: np.ndarray  # indices of distinct rows
    levels: list[int]  # current hierarchy level of each categorical attribute


class _Partitioner:
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.ordered = [q.positions is not None for q in problem.qis]
        self.position = [
            q.positions[c] if q.positions is not None else None
            for q, c in zip(problem.qis, problem.codes, strict=True)
        ]
        self.span = [
            float(np.ptp(q.positions)) if q.positions is not None else 0.0 for q in problem.qis
        ]

    def allowed(self, groups: list[np.ndarray]) -> np.ndarray:
        """Which candidate parts satisfy every privacy model on their own."""
        weights = self.problem.weights
        sizes = np.array([weights[g].sum() for g in groups], dtype=np.int64)
        pairs = []
        for codes, sens in zip(self.problem.sensitive_codes, self.problem.sensitive, strict=True):
            m = len(sens.global_share)
            counts = np.stack([np.bincount(codes[g], weights[g], minlength=m) for g in groups])
            cls, value = np.nonzero(counts)
            pairs.append(Pairs(cls, value, counts[cls, value]))
        return ~violations(self.problem.privacy, sizes, pairs, self.problem.sensitive)

    def width(self, part: _Part, dim: int) -> float:
        """Normalized spread of the partition along ``dim`` (which attribute to cut first)."""
        q = self.problem.qis[dim]
        position = self.position[dim]
        if position is not None:
            values = position[part.rows]
            return float(values.max() - values.min()) / self.span[dim] if self.span[dim] else 0.0
        codes = q.codes[part.levels[dim]][self.problem.codes[dim][part.rows]]
        return float(q.ncp[part.levels[dim]][codes[0]])

    def cut_ordered(self, part: _Part, dim: int) -> list[_Part] | None:
        position = self.position[dim]
        assert position is not None
        values = position[part.rows]
        weights = self.problem.weights[part.rows]
        distinct, inverse = np.unique(values, return_inverse=True)
        if len(distinct) < 2:
            return None
        cumulative = np.cumsum(np.bincount(inverse, weights))
        split = int(np.searchsorted(cumulative, cumulative[-1] / 2))
        split = min(split, len(distinct) - 2)  # the right side must not be empty
        left = inverse <= split
        groups = [part.rows[left], part.rows[~left]]
        if not self.allowed(groups).all():
            return None
        return [_Part(g, list(part.levels)) for g in groups]

    def cut_categorical(self, part: _Part, dim: int) -> list[_Part] | None:
        q = self.problem.qis[dim]
        codes = self.problem.codes[dim][part.rows]
        for level in range(part.levels[dim] - 1, -1, -1):
            labels = q.codes[level][codes]
            names = np.unique(labels)
            if len(names) >= 2:
                break
        else:
            return None
        groups = [part.rows[labels == name] for name in names]
        ok = self.allowed(groups)
        rest = [g for g, good in zip(groups, ok, strict=True) if not good]
        parts = [
            _Part(g, [*part.levels[:dim], level, *part.levels[dim + 1 :]])
            for g, good in zip(groups, ok, strict=True)
            if good
        ]
        if rest:
            # Children too small on their own stay together under the parent node,
            # absorbing the smallest good children until the remainder is allowed.
            parts.sort(key=lambda p: (int(self.problem.weights[p.rows].sum()), int(p.rows[0])))
            remainder = np.concatenate(rest)
            while not self.allowed([remainder])[0] and parts:
                remainder = np.concatenate([remainder, parts.pop(0).rows])
            if not self.allowed([remainder])[0]:
                return None
            parts.append(_Part(np.sort(remainder), list(part.levels)))
        return parts if len(parts) >= 2 else None

    def cut(self, part: _Part) -> list[_Part] | None:
        dims = range(self.problem.width)
        for dim in sorted(dims, key=lambda d: (-self.width(part, d), d)):
            if self.width(part, dim) == 0:
                break
            cut = self.cut_ordered if self.ordered[dim] else self.cut_categorical
            parts = cut(part, dim)
            if parts:
                return parts
        return None


def _labels(q: Levels, codes: np.ndarray, ordered: bool) -> tuple[str, float, bool]:
    """The released label of a partition's values, its NCP and whether it generalizes."""
    if ordered:
        low, high = int(codes.min()), int(codes.max())
        assert q.positions is not None
        span = float(np.ptp(q.positions))
        penalty = float(q.positions[high] - q.positions[low]) / span if span else 0.0
        if low == high:
            return q.labels[0][low], 0.0, False
        return f"[{q.labels[0][low]}, {q.labels[0][high]}]", penalty, True
    for level in range(q.height + 1):
        names = np.unique(q.codes[level][codes])
        if len(names) == 1:
            return q.labels[level][names[0]], float(q.ncp[level][names[0]]), level > 0
    raise AssertionError("the top level has one label")


def partition(problem: Problem, progress: Progress | None = None) -> Outcome:
    """Partition the distinct rows and recode each partition locally."""
    partitioner = _Partitioner(problem)
    everything = np.arange(len(problem.weights))
    if not partitioner.allowed([everything])[0]:
        raise errors.unsatisfiable(
            "データ全体でも基準を満たしません"
            "(k が件数より大きい、または機微属性の多様性が足りない等)",
            "the whole data set fails (k larger than the data, or too little sensitive diversity)",
        )
    stack = [_Part(everything, [q.height for q in problem.qis])]
    leaves: list[_Part] = []
    done = 0
    while stack:
        part = stack.pop()
        parts = partitioner.cut(part)
        if parts:
            stack.extend(reversed(parts))
            continue
        leaves.append(part)
        done += int(problem.weights[part.rows].sum())
        if progress:
            progress(done / problem.rows)
    return _recode(problem, partitioner, leaves)


def _recode(problem: Problem, partitioner: _Partitioner, leaves: list[_Part]) -> Outcome:
    size = len(problem.weights)
    labels: list[list[str]] = []
    row_labels, row_ncp, generalized = [], [], []
    for dim, q in enumerate(problem.qis):
        names: dict[str, int] = {}
        codes = np.zeros(size, dtype=np.int64)
        ncp = np.zeros(size)
        changed = False
        for leaf in leaves:
            label, penalty, general = _labels(
                q, problem.codes[dim][leaf.rows], partitioner.ordered[dim]
            )
            codes[leaf.rows] = names.setdefault(label, len(names))
            ncp[leaf.rows] = penalty
            changed |= general
        labels.append(list(names))
        row_labels.append(codes)
        row_ncp.append(ncp)
        generalized.append(changed)
    return Outcome(labels, row_labels, row_ncp, generalized, node=None)
