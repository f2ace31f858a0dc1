"""The privacy models on hand-made classes, and the lattice search against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from tsunagu.anonymize import lattice
from tsunagu.anonymize.config import LDiversity, Privacy, TCloseness, parse_config
from tsunagu.anonymize.privacy import Pairs, Sensitive, violations
from tsunagu.anonymize.problem import WEIGHT, Problem, build_problem

UNIFORM3 = np.array([1 / 3, 1 / 3, 1 / 3])


def _one_class(counts: list[int]) -> tuple[np.ndarray, list[Pairs]]:
    values = np.flatnonzero(counts)
    pairs = Pairs(np.zeros(len(values), dtype=np.int64), values, np.array(counts, float)[values])
    return np.array([sum(counts)]), [pairs]


@pytest.mark.parametrize(
    ("ordered", "t", "violates"),
    [(True, 0.49, True), (True, 0.5, False), (False, 0.66, True), (False, 0.67, False)],
)
def test_emd_ordered_and_equal_distance(ordered: bool, t: float, violates: bool) -> None:
    # All rows hold the lowest value of three equally frequent ones:
    # ordered EMD = (2/3 + 1/3) / 2 = 0.5; equal-distance EMD = (2/3 + 1/3 + 1/3) / 2 = 2/3.
    sizes, pairs = _one_class([6, 0, 0])
    sens = [Sensitive("s", UNIFORM3, ordered)]
    privacy = Privacy(k=1, t_closeness=TCloseness(t=t))
    assert violations(privacy, sizes, pairs, sens)[0] == violates


@pytest.mark.parametrize(
    ("model", "counts", "violates"),
    [
        (LDiversity(l=2), [5, 1, 0], False),
        (LDiversity(l=3), [5, 1, 0], True),
        (LDiversity(l=2, variant="entropy"), [5, 5, 0], False),  # entropy ln 2 exactly
        (LDiversity(l=2, variant="entropy"), [6, 4, 0], True),
        (LDiversity(l=2, variant="recursive", c=2), [3, 2, 0], False),  # 3 < 2·2
        (LDiversity(l=2, variant="recursive", c=1), [3, 2, 0], True),  # 3 ≥ 1·2
    ],
)
def test_l_diversity_variants(model: LDiversity, counts: list[int], violates: bool) -> None:
    sizes, pairs = _one_class(counts)
    sens = [Sensitive("s", UNIFORM3, False)]
    assert violations(Privacy(k=1, l_diversity=model), sizes, pairs, sens)[0] == violates


def _random_problem(seed: int, k: int, suppression: float, l: int | None) -> Problem:  # noqa: E741
    rng = np.random.default_rng(seed)
    rows = 400
    frame = pl.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "zip": rng.choice(["a", "b", "c", "d", "e"], rows, p=[0.4, 0.3, 0.2, 0.07, 0.03]),
            "sex": rng.choice(["F", "M"], rows),
            "disease": rng.choice(["flu", "cold", "none", "ulcer"], rows),
        }
    )
    config = parse_config(
        {
            "attributes": {
                "age": {
                    "role": "quasi_identifier",
                    "hierarchy": {"type": "interval", "widths": [5, 10, 20, 40]},
                },
                "zip": {
                    "role": "quasi_identifier",
                    "hierarchy": {
                        "type": "tree",
                        "tree": {"ab": ["a", "b"], "cde": ["c", "d", "e"]},
                    },
                },
                "sex": {"role": "quasi_identifier"},
                "disease": {"role": "sensitive"},
            },
            "privacy": {"k": k, "l_diversity": {"l": l} if l else None},
            "suppression_limit": suppression,
        }
    )
    base = frame.group_by("age", "zip", "sex", "disease").agg(pl.len().alias(WEIGHT))
    return build_problem(base, config)


@pytest.mark.parametrize(
    ("seed", "k", "suppression", "l"),
    [
        (1, 3, 0.0, 2),
        (2, 5, 0.05, 2),
        (3, 10, 0.1, 3),
        (4, 20, 0.02, None),
        (5, 4, 0.05, None),
        (6, 8, 0.0, None),
    ],
)
def test_lattice_search_finds_the_brute_force_optimum(
    seed: int,
    k: int,
    suppression: float,
    l: int | None,  # noqa: E741
) -> None:
    problem = _random_problem(seed, k, suppression, l)
    nodes = itertools.product(*[range(q.height + 1) for q in problem.qis])
    checks = {node: lattice.evaluate(problem, node) for node in nodes}
    best = min((c.loss, sum(node), node) for node, c in checks.items() if c.ok)
    result = lattice.search(problem)
    assert (result.check.loss, sum(result.node), result.node) == best
    assert result.checked < len(checks)
