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

After a change the previous snapshot is brought up to date rather than
rebuilt: index writers hold the state row's lock from before they take new
document ids until they commit, so committed ids only grow, and the
documents above the snapshot's highest id are exactly the new ones; the
documents they replace (same dataset) are marked dead. A removal without a
replacement shows in the index's count of removed documents, and only then
are the remaining ids read; when a fifth of the snapshot is dead it is read
afresh.
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
DEAD_KEPT = 1_000  # replaced documents a snapshot may carry before it is read afresh
_cache: OrderedDict[tuple[str, str], Snapshot] = OrderedDict()
_lock = threading.Lock()
_fill_lock = threading.Lock()  # texts are filled in place, once per snapshot

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
    alive: BoolArray  # False for documents replaced since the snapshot was read
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
    positions_of: dict[str, int]  # package id -> position of its live document
    generation: str = ""
    removed: int = 0  # the index's count of removed documents this snapshot accounts for
    # ``name``/``title_sort`` by position, read when a query first sorts on them
    texts: dict[str, list[str]] = field(default_factory=dict)
    _ranks: dict[str, IntArray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.doc_ids)

    @property
    def max_id(self) -> int:
        return int(self.doc_ids[-1]) if self.size else 0

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
        mask = np.zeros(self.size, np.bool_)
        position = self.positions_of.get(package_id)
        if position is not None and self.alive[position]:
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
                times = self.created if column == "metadata_created" else self.modified
                ranks = np.unique(times, return_inverse=True)[1].reshape(-1)
            else:
                strings = self._strings(session, column)
                number = {v: i for i, v in enumerate(sorted(set(strings)))}
                ranks = np.fromiter((number[v] for v in strings), np.int64, len(strings))
            self._ranks[column] = ranks.astype(np.int64)
        return self._ranks[column]

    def _strings(self, session: Session, column: str) -> list[str]:
        """``name`` or ``title_sort`` by position; only documents not yet read are fetched."""
        with _fill_lock:
            return self._fill(session, column)

    def _fill(self, session: Session, column: str) -> list[str]:
        known = self.texts.setdefault(column, [])
        if len(known) < self.size:
            after = int(self.doc_ids[len(known) - 1]) if known else 0
            rows = session.execute(
                text(f"SELECT id, {column} FROM opendata_search_docs WHERE id > :after"),
                {"after": after},
            )
            by_id = {int(i): str(v) for i, v in rows}
            known.extend(by_id.get(int(i), "") for i in self.doc_ids[len(known) :])
        return known


@dataclass(frozen=True)
class State:
    token: str = ""  # '' when the state row is missing
    generation: str = ""
    removed: int = 0


def state(session: Session) -> State:
    """The index's current token, generation and count of removed documents."""
    row = session.execute(
        select(OdSearchState.token, OdSearchState.generation, OdSearchState.removed).where(
            OdSearchState.id == 1
        )
    ).first()
    return State(row[0], row[1], row[2]) if row else State()


def current(session: Session) -> Snapshot:
    """The snapshot matching what ``session`` sees of the index, built if needed."""
    url = session.get_bind().engine.url.render_as_string(hide_password=True)
    now = state(session)
    key = (url, now.token)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
        previous = next(
            (
                s
                for k, s in reversed(_cache.items())
                if k[0] == url and s.generation == now.generation
            ),
            None,
        )
    built = (refreshed(session, previous, now.removed) if previous else None) or load(session)
    built.generation, built.removed = now.generation, now.removed
    if key[1]:  # without a token nothing proves the data unchanged next time
        with _lock:
            _cache[key] = built
            while len(_cache) > KEPT_SNAPSHOTS:
                _cache.popitem(last=False)
    return built


def _documents(session: Session, above: int) -> list[Any]:
    """Index documents with ids above ``above``, in id order."""
    micro = _MICROSECONDS.get(session.get_bind().dialect.name, _MICROSECONDS["postgresql"])
    return list(
        session.execute(
            text(
                "SELECT id, package_id, owner_org, private, "
                f"{micro.format(c='metadata_created')}, {micro.format(c='metadata_modified')} "
                "FROM opendata_search_docs WHERE id > :above ORDER BY id"
            ),
            {"above": above},
        ).all()
    )


def _columns(rows: list[Any], orgs: list[str]) -> dict[str, Any]:
    """Arrays of ``rows``; organizations not yet in ``orgs`` are appended to it."""
    org_index = {org: i for i, org in enumerate(orgs)}
    for org in sorted({r[2] for r in rows if r[2]} - set(org_index)):
        org_index[org] = len(orgs)
        orgs.append(org)
    n = len(rows)
    return {
        "doc_ids": np.fromiter((r[0] for r in rows), np.int64, n),
        "package_ids": [r[1] for r in rows],
        "owner": np.fromiter((org_index.get(r[2], -1) for r in rows), np.int64, n),
        "private": np.fromiter((bool(r[3]) for r in rows), np.bool_, n),
        "created": np.fromiter((r[4] or 0 for r in rows), np.int64, n),
        "modified": np.fromiter((r[5] or 0 for r in rows), np.int64, n),
    }


def load(session: Session) -> Snapshot:
    """Read the whole index's columns (two queries: documents, facet values with their ids)."""
    orgs: list[str] = []
    columns = _columns(_documents(session, 0), orgs)
    doc_ids = columns["doc_ids"]
    aggregate = _AGGREGATE_IDS.get(session.get_bind().dialect.name, _AGGREGATE_IDS["postgresql"])
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
        **columns,
        alive=np.ones(len(doc_ids), np.bool_),
        positions_of={p: i for i, p in enumerate(columns["package_ids"])},
        orgs=orgs,
        values={key: n for n, key in enumerate(value_keys)},
        value_keys=value_keys,
        facet_doc=np.concatenate(doc_parts) if doc_parts else np.zeros(0, np.int64),
        facet_value=np.concatenate(value_parts) if value_parts else np.zeros(0, np.int64),
    )


def refreshed(session: Session, old: Snapshot, removed: int) -> Snapshot | None:
    """``old`` plus the documents indexed since, or None when only a full read will do.

    ``removed`` is the index's count of removed documents, read before the
    documents: when the replaced documents do not account for all removals
    since ``old``, the ids still present are read to find the others.
    """
    rows = _documents(session, old.max_id)
    positions_of = dict(old.positions_of)
    alive = old.alive.copy()
    for n, row in enumerate(rows):
        replaced = positions_of.get(row[1])
        if replaced is not None and replaced < old.size and alive[replaced]:
            alive[replaced] = False
        positions_of[row[1]] = old.size + n
    if removed != old.removed + int(old.alive.sum() - alive.sum()):
        present = session.execute(
            text("SELECT id FROM opendata_search_docs WHERE id <= :top"), {"top": old.max_id}
        ).scalars()
        alive &= np.isin(old.doc_ids, np.fromiter(present, np.int64))
    dead = old.size - int(alive.sum())
    if dead > max(DEAD_KEPT, old.size // 5):
        return None  # too many dead documents: read afresh
    orgs = list(old.orgs)
    columns = _columns(rows, orgs)
    values, value_keys = dict(old.values), list(old.value_keys)
    new_docs: list[int] = []
    new_values: list[int] = []
    if rows:
        position = {int(i): old.size + n for n, i in enumerate(columns["doc_ids"])}
        found = session.execute(
            text("SELECT doc_id, field, value FROM opendata_search_facets WHERE doc_id > :above"),
            {"above": old.max_id},
        )
        for doc_id, name, value in found:
            if int(doc_id) not in position:
                continue  # committed after the documents were read: the next refresh has it
            if (name, value) not in values:
                values[(name, value)] = len(value_keys)
                value_keys.append((name, value))
            new_docs.append(position[int(doc_id)])
            new_values.append(values[(name, value)])
    return Snapshot(
        doc_ids=np.concatenate([old.doc_ids, columns["doc_ids"]]),
        alive=np.concatenate([alive, np.ones(len(rows), np.bool_)]),
        package_ids=old.package_ids + columns["package_ids"],
        owner=np.concatenate([old.owner, columns["owner"]]),
        orgs=orgs,
        private=np.concatenate([old.private, columns["private"]]),
        created=np.concatenate([old.created, columns["created"]]),
        modified=np.concatenate([old.modified, columns["modified"]]),
        values=values,
        value_keys=value_keys,
        facet_doc=np.concatenate([old.facet_doc, np.array(new_docs, np.int64)]),
        facet_value=np.concatenate([old.facet_value, np.array(new_values, np.int64)]),
        positions_of=positions_of,
        texts={column: list(known) for column, known in old.texts.items()},
    )
