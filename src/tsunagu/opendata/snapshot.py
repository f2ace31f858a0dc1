"""The search index's filter, sort and facet columns held in memory, per process.

Full-text matching stays in the database (FTS5 / tsvector); everything else a
``package_search`` needs — visibility, ``fq`` filters, facet counts, sorting
and paging — is computed with NumPy over a snapshot of
``opendata_search_docs`` and ``opendata_search_facets``. Counting facets over
100,000 datasets is then a few milliseconds whatever the query matches, where
a grouped SQL query over the facet rows takes hundreds.

The snapshot is a cache, never a source of truth: every search reads the
index's token (``opendata_search_state``, replaced by a new random value in
the same transaction as every index change) and rebuilds the snapshot when
the token differs, so any number of app workers answer from committed data.
A rolled-back token never comes back, so a snapshot built inside a writing
transaction is simply never matched again. Index rows are immutable (a
change deletes and re-inserts), so columns loaded later by document id —
names and titles, only when a query sorts on them — always agree with it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tsunagu.opendata.models import OdSearchState

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
KEPT_SNAPSHOTS = 4
_cache: OrderedDict[tuple[str, str], Snapshot] = OrderedDict()
_lock = threading.Lock()

_MICROSECONDS = {
    "sqlite": (
        "CAST(strftime('%s', {c}) AS INTEGER) * 1000000 + CAST(substr({c}, 21, 6) AS INTEGER)"
    ),
    "postgresql": "CAST(extract(epoch FROM {c}) * 1000000 AS BIGINT)",
}
_AGGREGATE_IDS = {
    "sqlite": "group_concat(doc_id, ',')",
    "postgresql": "string_agg(CAST(doc_id AS TEXT), ',')",
}


@dataclass
class Snapshot:
    """Columns of every indexed dataset, in document-id order (position = rank of the id)."""

    doc_ids: IntArray
    package_ids: list[str]
    owner: IntArray  # index into ``orgs``; -1 for none
    orgs: list[str]
    private: BoolArray
    created: IntArray  # microseconds since the epoch
    modified: IntArray
    # facet (field, value) -> value number; parallel arrays: document position, value number
    values: dict[tuple[str, str], int]
    value_keys: list[tuple[str, str]]
    facet_doc: IntArray
    facet_value: IntArray
    _ranks: dict[str, IntArray] = field(default_factory=dict)
    _package_positions: dict[str, int] | None = None

    @property
    def size(self) -> int:
        return len(self.doc_ids)

    def positions(self, doc_ids: IntArray) -> tuple[IntArray, IntArray]:
        """Positions of ``doc_ids`` in the snapshot, and which of the inputs were found."""
        found_at = np.searchsorted(self.doc_ids, doc_ids)
        found_at = np.minimum(found_at, max(self.size - 1, 0))
        known = self.doc_ids[found_at] == doc_ids if self.size else np.zeros(len(doc_ids), np.bool_)
        return found_at[known].astype(np.int64), np.flatnonzero(known).astype(np.int64)

    def having(self, name: str, value: str) -> BoolArray:
        """Documents with facet ``name`` = ``value``."""
        mask = np.zeros(self.size, np.bool_)
        number = self.values.get((name, value))
        if number is not None:
            mask[self.facet_doc[self.facet_value == number]] = True
        return mask

    def of_org(self, org_ids: list[str]) -> BoolArray:
        wanted = [i for i, org in enumerate(self.orgs) if org in set(org_ids)]
        return np.isin(self.owner, np.array(wanted, np.int64))

    def with_package(self, package_id: str) -> BoolArray:
        if self._package_positions is None:
            self._package_positions = {p: i for i, p in enumerate(self.package_ids)}
        mask = np.zeros(self.size, np.bool_)
        position = self._package_positions.get(package_id)
        if position is not None:
            mask[position] = True
        return mask

    def counts(self, selected: BoolArray) -> npt.NDArray[np.int64]:
        """How many selected documents carry each facet value (indexed by value number)."""
        chosen = self.facet_value[selected[self.facet_doc]]
        return np.bincount(chosen, minlength=len(self.value_keys)).astype(np.int64)

    def rank(self, session: Session, column: str) -> IntArray:
        """Dense ascending rank of every document by ``column`` (ties share a rank)."""
        if column not in self._ranks:
            if column in ("metadata_created", "metadata_modified"):
                raw: Any = self.created if column == "metadata_created" else self.modified
            else:
                raw = np.array(self._strings(session, column), dtype=object)
            _, inverse = np.unique(raw, return_inverse=True)
            self._ranks[column] = inverse.astype(np.int64).reshape(-1)
        return self._ranks[column]

    def _strings(self, session: Session, column: str) -> list[str]:
        """``name`` or ``title_sort`` of each document, fetched by id (rows never change)."""
        rows = session.execute(text(f"SELECT id, {column} FROM opendata_search_docs"))
        by_id = {int(i): str(v) for i, v in rows}
        return [by_id.get(int(i), "") for i in self.doc_ids]


def token(session: Session) -> str:
    """The index's current token ('' when the state row is missing)."""
    value = session.execute(select(OdSearchState.token).where(OdSearchState.id == 1)).scalar()
    return value or ""


def current(session: Session) -> Snapshot:
    """The snapshot matching what ``session`` sees of the index, built if needed."""
    engine = session.get_bind().engine
    key = (engine.url.render_as_string(hide_password=True), token(session))
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    built = load(session)
    if key[1]:  # without a token nothing proves the data unchanged next time
        with _lock:
            _cache[key] = built
            while len(_cache) > KEPT_SNAPSHOTS:
                _cache.popitem(last=False)
    return built


def load(session: Session) -> Snapshot:
    """Read the whole index's columns (two queries: documents, facet values with their ids)."""
    dialect = session.get_bind().dialect.name
    micro = _MICROSECONDS.get(dialect, _MICROSECONDS["postgresql"])
    rows = session.execute(
        text(
            "SELECT id, package_id, owner_org, private, "
            f"{micro.format(c='metadata_created')}, {micro.format(c='metadata_modified')} "
            "FROM opendata_search_docs ORDER BY id"
        )
    ).all()
    doc_ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    orgs = sorted({r[2] for r in rows if r[2]})
    org_index = {org: i for i, org in enumerate(orgs)}
    owner = np.fromiter((org_index.get(r[2], -1) for r in rows), np.int64, len(rows))
    snapshot_private = np.fromiter((bool(r[3]) for r in rows), np.bool_, len(rows))
    created = np.fromiter((r[4] or 0 for r in rows), np.int64, len(rows))
    modified = np.fromiter((r[5] or 0 for r in rows), np.int64, len(rows))
    aggregate = _AGGREGATE_IDS.get(dialect, _AGGREGATE_IDS["postgresql"])
    groups = session.execute(
        text(f"SELECT field, value, {aggregate} FROM opendata_search_facets GROUP BY field, value")
    ).all()
    value_keys: list[tuple[str, str]] = []
    doc_parts: list[IntArray] = []
    value_parts: list[IntArray] = []
    for number, (name, value, joined) in enumerate(groups):
        value_keys.append((name, value))
        ids = np.array(joined.split(","), dtype=np.int64)
        found_at = np.searchsorted(doc_ids, ids)
        valid = found_at < len(doc_ids)
        valid[valid] = doc_ids[found_at[valid]] == ids[valid]
        doc_parts.append(found_at[valid].astype(np.int64))
        value_parts.append(np.full(int(valid.sum()), number, np.int64))
    return Snapshot(
        doc_ids=doc_ids,
        package_ids=[r[1] for r in rows],
        owner=owner,
        orgs=orgs,
        private=snapshot_private,
        created=created,
        modified=modified,
        values={key: n for n, key in enumerate(value_keys)},
        value_keys=value_keys,
        facet_doc=np.concatenate(doc_parts) if doc_parts else np.zeros(0, np.int64),
        facet_value=np.concatenate(value_parts) if value_parts else np.zeros(0, np.int64),
    )
