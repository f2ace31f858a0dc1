"""Optimal full-domain generalization over the lattice of hierarchy levels.

Every node of the lattice assigns one hierarchy level to each quasi-identifier.
The search follows ARX's Flash: privacy models with record suppression are
monotone (if a node satisfies them, every more general node does too), so it
builds ascending paths through untagged nodes, binary-searches each path with
real checks, and tags all successors of a satisfying node and all predecessors
of a failing one without checking them. Among satisfying nodes the one with
the least loss wins; generalization-only loss is a lower bound of the real
loss (suppressed cells count as fully generalized), so nodes are scored in
order of that bound and the scan stops once the bound exceeds the best found.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tsunagu.anonymize import errors
from tsunagu.anonymize.metrics import Outcome
from tsunagu.anonymize.privacy import Pairs, violations
from tsunagu.anonymize.problem import (
    MAX_KEY,
    Problem,
    class_index,
    combine,
    group_classes,
    group_rows,
)

MAX_NODES = 2_000_000
_EPS = 1e-12

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Check:
    """What the search remembers of a checked node."""

    ok: bool
    suppressed: int
    loss: float


@dataclass(frozen=True)
class _Table:
    """Distinct rows at a checked node: label codes, rows and (if needed) the sensitive code."""

    node: np.ndarray
    labels: list[np.ndarray]
    weights: np.ndarray
    sensitive: np.ndarray | None


class Checker:
    """Checks lattice nodes, rolling up from the smallest table already computed below.

    The classes of a node can be formed from those of any less general node,
    so after the first checks most nodes group a few thousand rows instead of
    the whole distinct-row table (ARX calls this roll-up). The tables are keyed
    by (class, sensitive value) when a model needs the sensitive counts.
    """

    MAX_TABLES = 64

    def __init__(self, problem: Problem, *, rollup: bool = True) -> None:
        self.problem = problem
        privacy = problem.privacy
        needs_pairs = privacy.l_diversity is not None or privacy.t_closeness is not None
        self.rollup = rollup and (not needs_pairs or len(problem.sensitive) == 1)
        sensitive = problem.sensitive_codes[0] if needs_pairs and self.rollup else None
        self.base = _Table(
            np.zeros(problem.width, dtype=np.int64), problem.codes, problem.weights, sensitive
        )
        self.tables: list[_Table] = []

    def _source(self, node: np.ndarray) -> _Table:
        below = [t for t in self.tables if (t.node <= node).all()]
        return min(below, key=lambda t: len(t.weights), default=self.base)

    def _lift(self, dim: int, source: int, target: int) -> np.ndarray:
        """Label code at level ``target`` of each label at level ``source`` (nested levels)."""
        q = self.problem.qis[dim]
        lifted = np.empty(len(q.labels[source]), dtype=np.int64)
        lifted[q.codes[source]] = q.codes[target]
        return lifted

    def check(self, node: tuple[int, ...]) -> Check:
        problem = self.problem
        if not self.rollup:
            return self._check_base(node)
        levels = np.asarray(node)
        table = self._source(levels)
        columns = [
            self._lift(dim, int(table.node[dim]), h)[table.labels[dim]]
            for dim, h in enumerate(node)
        ]
        cards = [len(q.labels[h]) for q, h in zip(problem.qis, node, strict=True)]
        key = combine(columns, cards)
        penalty_per_row = sum(
            (q.ncp[h][c] for q, h, c in zip(problem.qis, node, columns, strict=True)),
            start=np.zeros(len(key)),
        )
        groups = group_rows(key, table.weights, table.weights * penalty_per_row, table.sensitive)
        if groups.sensitive is None:
            sizes, penalty = groups.weights, groups.cost
            bad = sizes < problem.privacy.k
        else:
            pairs = Pairs(class_index(groups.key), groups.sensitive, groups.weights.astype(float))
            sizes = np.bincount(pairs.cls, pairs.count).astype(np.int64)
            penalty = np.bincount(pairs.cls, groups.cost)
            bad = violations(problem.privacy, sizes, [pairs], problem.sensitive)
        if math.prod(cards) < MAX_KEY and len(groups.key) * 2 <= len(self.base.weights):
            self._remember(levels, groups.key, cards, groups.weights, groups.sensitive)
        return self._verdict(sizes, penalty, bad)

    def _remember(
        self,
        levels: np.ndarray,
        key: np.ndarray,
        cards: list[int],
        weights: np.ndarray,
        sensitive: np.ndarray | None,
    ) -> None:
        """Keep a small table for later roll-ups (the key decodes back to label codes)."""
        labels, stride = [], 1
        for card in reversed(cards):
            labels.append((key // stride) % card)
            stride *= card
        labels.reverse()
        self.tables.append(_Table(levels, labels, weights.astype(np.int64), sensitive))
        if len(self.tables) > self.MAX_TABLES:
            self.tables.pop(0)

    def _check_base(self, node: tuple[int, ...]) -> Check:
        """Without roll-up: group the whole distinct-row table (several sensitive attributes)."""
        problem = self.problem
        cards = [len(q.labels[h]) for q, h in zip(problem.qis, node, strict=True)]
        key = combine(problem.level_codes(node), cards)
        cost = problem.weighted_penalty(node)
        classes = group_classes(problem, key, cost)
        bad = violations(problem.privacy, classes.sizes, classes.pairs, problem.sensitive)
        return self._verdict(classes.sizes, classes.penalty, bad)

    def _verdict(self, sizes: np.ndarray, penalty: np.ndarray, bad: np.ndarray) -> Check:
        problem = self.problem
        suppressed = int(sizes[bad].sum())
        width, rows = problem.width, problem.rows
        kept_penalty = float(penalty.sum() - penalty[bad].sum())
        loss = (kept_penalty + suppressed * width) / (rows * width)
        return Check(suppressed <= problem.max_suppressed, suppressed, round(loss, 12))


def evaluate(problem: Problem, node: tuple[int, ...]) -> Check:
    """Check one node against the whole distinct-row table (the reference for roll-ups)."""
    return Checker(problem, rollup=False).check(node)


@dataclass(frozen=True)
class SearchResult:
    node: tuple[int, ...]
    check: Check
    lattice_size: int
    checked: int


class _Lattice:
    """All nodes as an (n × width) level array in mixed-radix order, with their tags."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        heights = [q.height for q in problem.qis]
        size = int(np.prod([h + 1 for h in heights], dtype=np.float64))
        if size > MAX_NODES:
            raise errors.bad_config(
                f"the lattice has {size:,} nodes (limit {MAX_NODES:,}); "
                "use fewer hierarchy levels or algorithm: mondrian"
            )
        grids = np.meshgrid(*[np.arange(h + 1) for h in heights], indexing="ij")
        self.levels = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
        self.radix = np.array(
            [int(np.prod([h + 1 for h in heights[i + 1 :]])) for i in range(len(heights))]
        )
        self.heights = np.array(heights)
        self.status = np.zeros(size, dtype=np.int8)  # 0 unknown, 1 satisfies, -1 fails
        weights = problem.weights.astype(float)
        per_level = [
            np.array(
                [q.mean_ncp(h, np.bincount(c, weights, len(q.values))) for h in range(q.height + 1)]
            )
            for q, c in zip(problem.qis, problem.codes, strict=True)
        ]
        # Summed as an array (``sum()`` would type it ``ndarray | float``).
        self.bound: np.ndarray = np.sum(
            [per_level[i][self.levels[:, i]] for i in range(len(heights))], axis=0
        ) / len(heights)
        self.checks: dict[int, Check] = {}
        self.checker = Checker(problem)
        self.best_loss = np.inf  # least loss of a satisfying node checked so far

    def relevant(self, index: int) -> bool:
        """Untagged and not yet ruled out by the loss bound."""
        return self.status[index] == 0 and self.bound[index] <= self.best_loss + _EPS

    def node(self, index: int) -> tuple[int, ...]:
        return tuple(int(v) for v in self.levels[index])

    def check(self, index: int) -> Check:
        if index not in self.checks:
            self.checks[index] = self.checker.check(self.node(index))
        result = self.checks[index]
        row = self.levels[index]
        if result.ok:
            self.best_loss = min(self.best_loss, result.loss)
            self.status[(self.levels >= row).all(axis=1)] = 1
        else:
            self.status[(self.levels <= row).all(axis=1)] = -1
        return result

    def path_from(self, index: int) -> list[int]:
        """An ascending chain of unknown nodes, each step raising the level with least bound."""
        path = [index]
        row = self.levels[index].copy()
        while True:
            best: int | None = None
            for dim in range(len(row)):
                if row[dim] < self.heights[dim]:
                    candidate = index + int(self.radix[dim])
                    if self.relevant(candidate) and (
                        best is None or self.bound[candidate] < self.bound[best]
                    ):
                        best = candidate
            if best is None:
                return path
            index, row = best, self.levels[best]
            path.append(index)

    def tag_all(self, progress: Progress | None) -> None:
        """Tag every node whose bound could still beat the best loss found."""
        order = np.lexsort((np.arange(len(self.status)), self.levels.sum(axis=1)))
        total = len(order)
        for index in order:
            if not self.relevant(int(index)):
                continue
            path = self.path_from(int(index))
            low, high = 0, len(path) - 1
            while low <= high:
                middle = (low + high) // 2
                if self.check(path[middle]).ok:
                    high = middle - 1
                else:
                    low = middle + 1
            if progress:
                settled = (self.status != 0) | (self.bound > self.best_loss + _EPS)
                progress(float(settled.sum()) / total)

    def best(self) -> int:
        satisfying = np.flatnonzero(self.status == 1)
        height = self.levels[satisfying].sum(axis=1)
        order = satisfying[np.lexsort((satisfying, height, self.bound[satisfying]))]
        best: int | None = None
        best_key: tuple[float, int, int] | None = None
        for index in order:
            if best_key is not None and self.bound[index] > best_key[0] + _EPS:
                break
            result = self.check(int(index))
            key = (result.loss, int(self.levels[index].sum()), int(index))
            if result.ok and (best_key is None or key < best_key):
                best, best_key = int(index), key
        assert best is not None
        return best


def search(problem: Problem, progress: Progress | None = None) -> SearchResult:
    """The satisfying node of least loss (ties: lower total height, then lattice order)."""
    lattice = _Lattice(problem)
    top = len(lattice.status) - 1
    if not lattice.check(top).ok:
        raise errors.unsatisfiable(
            "全ての属性を最大限一般化しても基準を満たしません(k が件数より大きい、"
            "または機微属性の多様性が足りない等)",
            "even the most general node fails (k larger than the data, "
            "or too little diversity in the sensitive attribute)",
        )
    lattice.tag_all(progress)
    index = lattice.best()
    return SearchResult(
        lattice.node(index), lattice.checks[index], len(lattice.status), len(lattice.checks)
    )


def outcome_of(problem: Problem, node: tuple[int, ...]) -> Outcome:
    """The recoding of a lattice node: every value replaced by its label at the node's level."""
    row_labels = problem.level_codes(node)
    return Outcome(
        labels=[q.labels[h] for q, h in zip(problem.qis, node, strict=True)],
        row_labels=row_labels,
        row_ncp=[
            q.ncp[h][codes] for q, h, codes in zip(problem.qis, node, row_labels, strict=True)
        ],
        generalized=[h > 0 for h in node],
        node=node,
    )
