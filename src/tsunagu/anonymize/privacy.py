"""Privacy models evaluated on equivalence classes, vectorized over all classes at once.

Both algorithms reduce a candidate anonymization to the same shape: the size
of every equivalence class and, per sensitive attribute, the (class, value,
count) triples present. One function then says which classes violate
k-anonymity, l-diversity (distinct, entropy, recursive (c, l)) or t-closeness
(earth mover's distance: ordered for numbers, equal distance for categories).
Every model is monotone under generalization, which the lattice search relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsunagu.anonymize.config import Privacy

_DENSE_CELLS = 4_000_000  # ordered EMD builds class × value blocks of at most this many cells


@dataclass(frozen=True)
class Sensitive:
    """One sensitive attribute: its global distribution and whether its values are ordered."""

    column: str
    global_share: np.ndarray  # share of each value code in the whole input
    ordered: bool


@dataclass(frozen=True)
class Pairs:
    """Counts of each sensitive value present in each class, sorted by class."""

    cls: np.ndarray
    value: np.ndarray
    count: np.ndarray


@dataclass(frozen=True)
class Achieved:
    """The weakest class of a release, i.e. the k, l and t it actually guarantees."""

    k: int
    l_distinct: int | None
    l_entropy: float | None
    t: float | None


def _entropy(pairs: Pairs, sizes: np.ndarray, n_classes: int) -> np.ndarray:
    share = pairs.count / sizes[pairs.cls]
    return -np.bincount(pairs.cls, weights=share * np.log(share), minlength=n_classes)


def _recursive_ok(pairs: Pairs, l: int, c: float, n_classes: int) -> np.ndarray:  # noqa: E741
    order = np.lexsort((-pairs.count, pairs.cls))
    cls, count = pairs.cls[order], pairs.count[order]
    starts = np.searchsorted(cls, np.arange(n_classes))
    rank = np.arange(len(cls)) - starts[cls]
    top = np.zeros(n_classes)
    top[cls[rank == 0]] = count[rank == 0]
    tail = np.bincount(cls, weights=count * (rank >= l - 1), minlength=n_classes)
    return top < c * tail


def _emd_equal(pairs: Pairs, sizes: np.ndarray, sens: Sensitive, n_classes: int) -> np.ndarray:
    """Variational distance, computed from present values only (absent ones add their q)."""
    share = pairs.count / sizes[pairs.cls]
    q = sens.global_share[pairs.value]
    return 0.5 * (np.bincount(pairs.cls, weights=np.abs(share - q) - q, minlength=n_classes) + 1)


def _emd_ordered(pairs: Pairs, sizes: np.ndarray, sens: Sensitive, n_classes: int) -> np.ndarray:
    """Ordered EMD: mean absolute difference of the cumulative distributions."""
    m = len(sens.global_share)
    if m <= 1:
        return np.zeros(n_classes)
    cumulative_q = np.cumsum(sens.global_share)[:-1]
    out = np.empty(n_classes)
    block = max(1, _DENSE_CELLS // m)
    bounds = np.searchsorted(pairs.cls, np.arange(0, n_classes + block, block))
    for number, start in enumerate(range(0, n_classes, block)):
        stop = min(start + block, n_classes)
        lo, hi = bounds[number], bounds[number + 1]
        dense = np.zeros((stop - start, m))
        dense[pairs.cls[lo:hi] - start, pairs.value[lo:hi]] = pairs.count[lo:hi]
        dense /= sizes[start:stop, None]
        cumulative = np.cumsum(dense, axis=1)[:, :-1]
        out[start:stop] = np.abs(cumulative - cumulative_q).sum(axis=1) / (m - 1)
    return out


def violations(
    privacy: Privacy,
    sizes: np.ndarray,
    pairs: list[Pairs],
    sensitive: list[Sensitive],
) -> np.ndarray:
    """Boolean mask of the classes that violate any configured model."""
    n_classes = len(sizes)
    bad = sizes < privacy.k
    ldiv, tclose = privacy.l_diversity, privacy.t_closeness
    for sens, pair in zip(sensitive, pairs, strict=True):
        if ldiv is not None:
            if ldiv.variant == "distinct":
                bad |= np.bincount(pair.cls, minlength=n_classes) < ldiv.l
            elif ldiv.variant == "entropy":
                bad |= _entropy(pair, sizes, n_classes) < np.log(ldiv.l) - 1e-12
            else:
                bad |= ~_recursive_ok(pair, ldiv.l, ldiv.c, n_classes)
        if tclose is not None:
            emd = _emd_ordered if sens.ordered else _emd_equal
            bad |= emd(pair, sizes, sens, n_classes) > tclose.t + 1e-12
    return bad


def achieved(
    sizes: np.ndarray, pairs: list[Pairs], sensitive: list[Sensitive], keep: np.ndarray
) -> Achieved:
    """k, l and t actually reached by the kept classes (all sensitive attributes together)."""
    kept = np.flatnonzero(keep)
    if not len(kept):
        return Achieved(0, None, None, None)
    n_classes = len(sizes)
    l_distinct: int | None = None
    l_entropy: float | None = None
    t: float | None = None
    for sens, pair in zip(sensitive, pairs, strict=True):
        distinct = int(np.bincount(pair.cls, minlength=n_classes)[kept].min())
        entropy = float(np.exp(_entropy(pair, sizes, n_classes)[kept].min()))
        emd = _emd_ordered if sens.ordered else _emd_equal
        distance = float(emd(pair, sizes, sens, n_classes)[kept].max())
        l_distinct = distinct if l_distinct is None else min(l_distinct, distinct)
        l_entropy = entropy if l_entropy is None else min(l_entropy, entropy)
        t = distance if t is None else max(t, distance)
    return Achieved(int(sizes[kept].min()), l_distinct, l_entropy, t)
