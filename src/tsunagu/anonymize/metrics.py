"""Information loss and re-identification risk of an anonymization outcome.

Both algorithms hand over the same ``Outcome``: the label every distinct row
gets for each quasi-identifier. Grouping by those labels gives the released
equivalence classes, from which the suppression, the achieved k/l/t, the
utility metrics and the risk figures all follow — one measurement code path,
so the two algorithms (and other tools, see ``score_labels``) compare fairly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsunagu.anonymize.config import Risk
from tsunagu.anonymize.privacy import Achieved, achieved, violations
from tsunagu.anonymize.problem import Grouped, Problem, combine, group_classes


@dataclass(frozen=True)
class Outcome:
    """Per quasi-identifier: label names, each distinct row's label, and its NCP."""

    labels: list[list[str]]
    row_labels: list[np.ndarray]
    row_ncp: list[np.ndarray]
    generalized: list[bool]  # False: the column is released unchanged (and keeps its type)
    node: tuple[int, ...] | None  # the lattice node (full-domain generalization only)


@dataclass(frozen=True)
class Measured:
    outcome: Outcome
    classes: Grouped
    row_class: np.ndarray
    keep_class: np.ndarray
    achieved: Achieved

    @property
    def keep_row(self) -> np.ndarray:
        return self.keep_class[self.row_class]


def measure(problem: Problem, outcome: Outcome) -> Measured:
    """Form the released classes and suppress those that still violate a model."""
    key = combine(outcome.row_labels, [len(names) for names in outcome.labels])
    grouped = group_classes(problem, key, np.zeros(len(key)))
    bad = violations(problem.privacy, grouped.sizes, grouped.pairs, problem.sensitive)
    reached = achieved(grouped.sizes, grouped.pairs, problem.sensitive, ~bad)
    return Measured(outcome, grouped, np.searchsorted(grouped.keys, key), ~bad, reached)


def _risk(sizes: np.ndarray, rows: int, risk: Risk) -> dict[str, Any]:
    """Prosecutor, journalist and marketer risk of classes of the given sizes.

    The population class size is estimated as f / sampling_fraction (the data
    are the whole population when the fraction is 1, e.g. a resident registry).
    """
    if not len(sizes) or rows == 0:
        empty = {"highest": 0.0, "average": 0.0, "records_at_risk": 0.0}
        return {"prosecutor": empty, "journalist": empty, "marketer": {"average": 0.0}}
    sizes = sizes.astype(float)
    population = np.maximum(sizes, sizes / risk.sampling_fraction)

    def model(denominator: np.ndarray) -> dict[str, float]:
        per_record = 1.0 / denominator
        return {
            "highest": round(float(per_record.max()), 6),
            "average": round(float((sizes * per_record).sum() / rows), 6),
            "records_at_risk": round(float(sizes[per_record > risk.threshold].sum() / rows), 6),
        }

    return {
        "prosecutor": model(sizes),
        "journalist": model(population),
        "marketer": {"average": round(float((sizes / population).sum() / rows), 6)},
        "threshold": risk.threshold,
        "sampling_fraction": risk.sampling_fraction,
    }


def risk_before(problem: Problem, risk: Risk) -> dict[str, Any]:
    key = combine(problem.codes, [len(q.values) for q in problem.qis])
    sizes = group_classes(problem, key, np.zeros(len(key))).sizes
    return _risk(sizes, problem.rows, risk)


def utility(problem: Problem, measured: Measured, risk: Risk) -> dict[str, Any]:
    """The report's figures: suppression, loss (NCP/GCP, DM, C_avg, height) and risk after."""
    rows, width = problem.rows, problem.width
    keep = measured.keep_row
    kept_weights = problem.weights * keep
    suppressed = rows - int(kept_weights.sum())
    ncp = {
        q.column: round(float((ncp * kept_weights).sum() + suppressed) / rows, 6)
        for q, ncp in zip(problem.qis, measured.outcome.row_ncp, strict=True)
    }
    kept_sizes = measured.classes.sizes[measured.keep_class]
    classes = len(kept_sizes)
    node = measured.outcome.node
    return {
        "rows_in": rows,
        "rows_out": rows - suppressed,
        "suppressed_rows": suppressed,
        "suppressed_fraction": round(suppressed / rows, 6) if rows else 0.0,
        "equivalence_classes": classes,
        "loss": {
            "gcp": round(sum(ncp.values()) / width, 6),
            "ncp": ncp,
            "discernibility": int((kept_sizes.astype(np.int64) ** 2).sum()) + suppressed * rows,
            "average_class_size": round((rows - suppressed) / classes, 4) if classes else 0.0,
            "c_avg": (
                round((rows - suppressed) / (classes * problem.privacy.k), 4) if classes else 0.0
            ),
            "generalization_height": sum(node) if node is not None else None,
        },
        "risk_after": _risk(kept_sizes, rows - suppressed, risk),
    }


def score_labels(problem: Problem, released: dict[str, list[str]], suppressed: int) -> float:
    """GCP of another tool's full output (labels drawn from the same hierarchies)."""
    rows, width = problem.rows, problem.width
    total = 0.0
    for q in problem.qis:
        table = q.label_ncp()
        total += sum(table.get(str(v), 0.0) for v in released[q.column]) + suppressed
    return total / (rows * width)
