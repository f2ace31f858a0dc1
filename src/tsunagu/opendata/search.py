"""Japanese-aware dataset search: SudachiPy analysis, FTS5 on SQLite, tsvector on PostgreSQL.

Analysis (same at index and query time): SudachiPy with ``sudachidict_core``,
normalized forms (ＡＥＤ→AED, ﾄｲﾚ→トイレ), lower-cased. Documents are indexed with
split mode A (short units) *plus* every mode-C compound that differs, so a
compound such as 自動体外式除細動器 is found by the whole word and by its
parts. Queries use mode A, and suffix morphemes (接尾辞 like 所, 園, 区) are
optional rather than required: 避難所 = 避難 + 所(suffix), so it matches
指定緊急避難場所 (指定 緊急 避難 場所), and 保育所 matches 保育園. Particles,
auxiliaries, punctuation and blanks are never indexed.

Both backends receive the same pre-tokenised, space-separated text: FTS5 with
its ``unicode61`` tokenizer, PostgreSQL with the ``simple`` configuration.
Titles weigh 10× the rest on SQLite (bm25 column weights) and ``A`` vs ``B``
on PostgreSQL (``ts_rank``), so title matches rank higher.

The database only answers the full-text part (ids and scores of matching
documents); visibility, ``fq`` filters, facet counts, sorting and paging run
over the in-memory snapshot of the index (``opendata/snapshot.py``).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, delete, func, insert, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sudachipy import Dictionary, SplitMode

from tsunagu.core.errors import ValidationError
from tsunagu.opendata import snapshot
from tsunagu.opendata.models import OdSearchDoc, OdSearchFacet, OdSearchState
from tsunagu.opendata.snapshot import BoolArray, IntArray

FloatArray = npt.NDArray[np.float64]

FACET_FIELDS = ("organization", "tags", "res_format", "license_id", "groups")
SKIPPED_POS = {"助詞", "助動詞", "補助記号", "空白"}
OPTIONAL_POS = {"接尾辞", "接頭辞"}
TITLE_WEIGHT = 10.0
FACET_COPY = "COPY opendata_search_facets (doc_id, field, value) FROM STDIN"
FEW_CANDIDATES = 5_000  # filtered documents few enough to hand to the full-text query
_local = threading.local()


@lru_cache(maxsize=1)
def _dictionary() -> Dictionary:
    return Dictionary(dict="core")


def _tokenizer() -> Any:
    """One Sudachi tokenizer per thread (a tokenizer must not be shared across threads)."""
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        tokenizer = _local.tokenizer = _dictionary().tokenizer()
    return tokenizer


def _indexable(morpheme: Any) -> tuple[str, str] | None:
    """(normalized lower-case form, part of speech) of a morpheme worth indexing."""
    pos = morpheme.part_of_speech()[0]
    if pos in SKIPPED_POS:
        return None
    form = morpheme.normalized_form().lower().strip()
    return (form, pos) if form else None


def _tokenized(value: str, mode: SplitMode) -> Iterator[Any]:
    # Sudachi refuses inputs above ~49 KB; descriptions longer than that are cut in chunks.
    for start in range(0, len(value), 8000):
        yield from _tokenizer().tokenize(value[start : start + 8000], mode)


def _morphemes(value: str, mode: SplitMode) -> list[tuple[str, str]]:
    """(normalized lower-case form, part of speech) of each morpheme worth indexing."""
    return [term for m in _tokenized(value, mode) if (term := _indexable(m)) is not None]


def analyze(value: str) -> list[str]:
    """Index terms: mode-A normalized forms plus differing mode-C compounds.

    One mode-C tokenization serves both: each compound split into its mode-A
    units is what mode A yields, at a third less analysis time.
    """
    short: list[str] = []
    compounds: list[str] = []
    for morpheme in _tokenized(value, SplitMode.C):
        for part in morpheme.split(SplitMode.A) or [morpheme]:
            if (term := _indexable(part)) is not None:
                short.append(term[0])
        if (term := _indexable(morpheme)) is not None:
            compounds.append(term[0])
    seen = set(short)
    return short + [c for c in dict.fromkeys(compounds) if c not in seen]


def query_terms(value: str) -> list[str]:
    """Required query terms: mode-A forms without optional affixes (unless that is all)."""
    morphemes = _morphemes(value, SplitMode.A)
    required = [form for form, pos in morphemes if pos not in OPTIONAL_POS]
    chosen = required or [form for form, _ in morphemes]
    return list(dict.fromkeys(chosen))


@dataclass
class IndexDoc:
    """What the index needs to know about one dataset."""

    package_id: str
    name: str
    title: str
    body: str
    owner_org: str | None
    private: bool
    metadata_created: datetime
    metadata_modified: datetime
    facets: dict[str, list[str]]


@dataclass
class Query:
    q: str = ""
    fq: str = ""
    facet_fields: list[str] = field(default_factory=list)
    facet_limit: int = 50
    facet_mincount: int = 1
    rows: int = 10
    start: int = 0
    sort: str = ""
    # None: every dataset (sysadmin); else public ones plus private ones of these organizations.
    private_orgs: list[str] | None = field(default_factory=list)


@dataclass
class Result:
    count: int
    package_ids: list[str]
    facets: dict[str, dict[str, int]]


def search_error(detail_ja: str, detail_en: str) -> ValidationError:
    return ValidationError(
        "opendata.search_query",
        f"検索条件が不正です: {detail_ja}",
        f"Invalid search query: {detail_en}",
    )


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _changed(session: Session, reserve: int = 0, removed: int = 0) -> int:
    """A new random token (every process's snapshot is now out of date); ``reserve`` new ids.

    Returns the first reserved document id. The row stays locked until the
    caller commits, so ids are handed out in commit order.
    """
    dialect_insert = pg_insert if _is_postgres(session) else sqlite_insert
    first_ever = select(func.coalesce(func.max(OdSearchDoc.id), 0) + 1 + reserve)
    statement = dialect_insert(OdSearchState).values(
        id=1,
        token=uuid.uuid4().hex,
        generation=uuid.uuid4().hex,
        next_id=first_ever.scalar_subquery(),
        removed=0,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "token": statement.excluded.token,
            "next_id": OdSearchState.next_id + reserve,
            "removed": OdSearchState.removed + removed,
        },
    )
    next_id: int = session.execute(statement.returning(OdSearchState.next_id)).scalar_one()
    return next_id - reserve


def index(session: Session, docs: list[IndexDoc]) -> None:
    """(Re)index datasets in the caller's transaction.

    The analysed text goes only into the full-text index (FTS5 keeps its own
    copy, PostgreSQL the weighted ``tsv``), so index rows stay narrow.
    """
    if not docs:
        return
    texts = [(" ".join(analyze(d.title)), " ".join(analyze(d.body))) for d in docs]
    remove(session, [d.package_id for d in docs])
    first = _changed(session, reserve=len(docs))
    ids = list(range(first, first + len(docs)))
    rows: list[dict[str, Any]] = [
        {
            "id": doc_id,
            "package_id": doc.package_id,
            "name": doc.name,
            "title_sort": doc.title.lower()[:500],
            "owner_org": doc.owner_org,
            "private": doc.private,
            "metadata_created": doc.metadata_created,
            "metadata_modified": doc.metadata_modified,
        }
        for doc_id, doc in zip(ids, docs, strict=True)
    ]
    postgres = _is_postgres(session)
    statement = insert(OdSearchDoc)
    if postgres:
        # the weighted vector is computed by the server in the same INSERT
        statement = statement.values(
            tsv=_weighted("pg_title", "A").op("||")(_weighted("pg_body", "B"))
        )
        rows = [
            {**r, "pg_title": title, "pg_body": body}
            for r, (title, body) in zip(rows, texts, strict=True)
        ]
    session.execute(statement, rows)
    facet_rows = [
        (doc_id, name, value)
        for doc_id, doc in zip(ids, docs, strict=True)
        for name, values in doc.facets.items()
        for value in dict.fromkeys(v[:200] for v in values if v)
    ]
    if postgres:  # COPY: several rows per dataset, far cheaper than one INSERT each
        cursor = session.connection().connection.cursor()
        try:
            with cursor.copy(FACET_COPY) as copy:
                for facet_row in facet_rows:
                    copy.write_row(facet_row)
        finally:
            cursor.close()
    elif facet_rows:
        columns = ("doc_id", "field", "value")
        session.execute(
            insert(OdSearchFacet), [dict(zip(columns, r, strict=True)) for r in facet_rows]
        )
    if not postgres:
        session.execute(
            text("INSERT INTO opendata_fts(rowid, title, body) VALUES (:id, :t, :b)"),
            [
                {"id": doc_id, "t": title, "b": body}
                for doc_id, (title, body) in zip(ids, texts, strict=True)
            ],
        )


def _weighted(param: str, weight: str) -> Any:
    vector = func.to_tsvector(literal_column("'simple'::regconfig"), bindparam(param))
    return func.setweight(vector, literal_column(f"'{weight}'::\"char\""))


def remove(session: Session, package_ids: list[str]) -> None:
    ids = list(
        session.execute(
            select(OdSearchDoc.id).where(OdSearchDoc.package_id.in_(package_ids))
        ).scalars()
    )
    if not ids:
        return
    _changed(session, removed=len(ids))
    session.execute(delete(OdSearchFacet).where(OdSearchFacet.doc_id.in_(ids)))
    if not _is_postgres(session):
        session.execute(
            text("DELETE FROM opendata_fts WHERE rowid = :id"), [{"id": i} for i in ids]
        )
    session.execute(delete(OdSearchDoc).where(OdSearchDoc.id.in_(ids)))


def clear(session: Session) -> None:
    _changed(session, removed=indexed_count(session))
    session.execute(delete(OdSearchFacet))
    if not _is_postgres(session):
        session.execute(text("DELETE FROM opendata_fts"))
    session.execute(delete(OdSearchDoc))


_FQ_TERM = re.compile(r'([+-]?)([A-Za-z_]+):(?:"([^"]*)"|(\S+))')
SORT_COLUMNS = {
    "metadata_modified": "metadata_modified",
    "metadata_created": "metadata_created",
    "name": "name",
    "title_string": "title_sort",
    "title": "title_sort",
}
IGNORED_FQ = {"dataset_type", "state", "type", "site_id"}


def _parse_filters(fq: str, q: str) -> tuple[str, list[tuple[bool, str, str]]]:
    """Split ``field:value`` terms out of q and fq: (free text, [(negate, field, value)])."""
    filters: list[tuple[bool, str, str]] = []

    def take(match: re.Match[str]) -> str:
        sign, name, quoted, bare = match.groups()
        value = quoted if quoted is not None else bare
        if name in IGNORED_FQ:
            return " "
        if name == "capacity":
            filters.append((value != "public", "private", "public"))
            return " "
        if name not in (*FACET_FIELDS, "name", "id", "owner_org"):
            raise search_error(f"{name} では絞り込めません", f"cannot filter on field {name!r}")
        filters.append((sign == "-", name, value))
        return " "

    leftover_fq = _FQ_TERM.sub(take, fq or "").strip()
    if leftover_fq and leftover_fq not in ("*:*", "+", "AND"):
        raise search_error(f"解釈できない条件 {leftover_fq}", f"cannot parse {leftover_fq!r}")
    free = _FQ_TERM.sub(take, q or "").strip()
    return ("" if free == "*:*" else free), filters


def _sort_keys(sort: str, has_text: bool) -> list[tuple[str, bool]]:
    """(column, descending) pairs; ``score`` always puts the best match first."""
    keys: list[tuple[str, bool]] = []
    for piece in (sort or "").split(","):
        words = piece.split()
        if not words:
            continue
        column, direction = words[0], (words[1].lower() if len(words) > 1 else "asc")
        if direction not in ("asc", "desc"):
            raise search_error(f"並び順 {direction}", f"sort direction {direction!r}")
        if column == "score":
            if has_text:
                keys.append(("score", True))
            continue
        if column not in SORT_COLUMNS:
            raise search_error(f"並び替えできない項目 {column}", f"cannot sort on {column!r}")
        keys.append((SORT_COLUMNS[column], direction == "desc"))
    if not keys:
        keys = [("score", True)] if has_text else []
        keys.append(("metadata_modified", True))
    return keys


def _text_matches(
    session: Session, terms: list[str], within: IntArray | None = None
) -> tuple[IntArray, FloatArray]:
    """Ids and scores (higher is better) of every indexed document matching all ``terms``.

    Read through the driver's cursor: thousands of (id, score) pairs are
    turned into arrays directly, without building a result row for each.
    PostgreSQL's ``ts_rank`` is higher for better matches, SQLite's ``bm25``
    lower; scores come back with higher meaning better. ``within`` (a few
    document ids that pass the filters) lets PostgreSQL rank only those.
    """
    if _is_postgres(session):
        sql = (
            "SELECT id, ts_rank(tsv, q) FROM opendata_search_docs,"
            " plainto_tsquery('simple', %(terms)s) AS q WHERE tsv @@ q"
        )
        params: dict[str, Any] = {"terms": " ".join(terms)}
        if within is not None:
            sql += " AND id = ANY(%(within)s)"
            params["within"] = within.tolist()
        sign = 1.0
        # binary results spare psycopg parsing thousands of numbers from text
        options: dict[str, Any] = {"binary": True}
    else:
        sql = (
            f"SELECT rowid, bm25(opendata_fts, {TITLE_WEIGHT}, 1.0) FROM opendata_fts"
            " WHERE opendata_fts MATCH :terms"
        )
        params = {"terms": " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)}
        sign = -1.0  # bm25: lower is better
        options = {}
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql, params, **options)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    pairs = np.array(rows, dtype=np.float64).reshape(-1, 2)
    return pairs[:, 0].astype(np.int64), sign * pairs[:, 1]


def _filtered(
    session: Session, snap: snapshot.Snapshot, query: Query, filters: list[tuple[bool, str, str]]
) -> BoolArray:
    """Documents the caller may see that pass every ``fq`` filter."""
    mask = snap.alive.copy()
    if query.private_orgs is not None:
        visible = ~snap.private
        if query.private_orgs:
            visible |= snap.of_org(query.private_orgs)
        mask &= visible
    for negate, name, value in filters:
        if name == "private":
            mask &= snap.private if negate else ~snap.private
            continue
        if name == "owner_org":
            matching = snap.of_org([value])
        elif name == "id":
            matching = snap.with_package(value)
        elif name == "name":
            matching = snap.with_package(_package_named(session, value))
        else:
            matching = snap.having(name, value)
        mask &= ~matching if negate else matching
    return mask


def _package_named(session: Session, name: str) -> str:
    package_id = session.execute(
        select(OdSearchDoc.package_id).where(OdSearchDoc.name == name)
    ).scalar()
    return package_id or ""


def _page(
    session: Session,
    snap: snapshot.Snapshot,
    positions: IntArray,
    scores: FloatArray | None,
    keys: list[tuple[str, bool]],
    wanted: int,
) -> IntArray:
    """The first ``wanted`` of ``positions`` in sort order (ties by document id)."""
    if wanted <= 0 or not len(positions):
        return positions[:0]
    columns: list[IntArray] = [positions]  # last resort: document id order
    for column, descending in reversed(keys):
        if column == "score":
            assert scores is not None
            ranks = np.unique(scores, return_inverse=True)[1].reshape(-1).astype(np.int64)
        else:
            ranks = snap.rank(session, column)[positions]
        columns.append(-ranks if descending else ranks)
    if wanted < len(positions) // 4:
        # only the head matters: keep the rows ranked at or above the wanted-th by the first key
        primary = columns[-1]
        cut = np.partition(primary, wanted - 1)[wanted - 1]
        head = primary <= cut
        columns = [c[head] for c in columns]
        positions = positions[head]
    order = np.lexsort(columns)
    return positions[order[:wanted]]


def search(session: Session, query: Query) -> Result:
    """Run a CKAN-style query; visibility is part of the query, never left to the caller."""
    free, filters = _parse_filters(query.fq, query.q)
    terms = query_terms(free) if free else []
    unknown = set(query.facet_fields) - set(FACET_FIELDS)
    if unknown:
        raise search_error(
            f"集計できない項目 {sorted(unknown)}", f"cannot facet on {sorted(unknown)}"
        )
    keys = _sort_keys(query.sort, bool(terms))
    snap = snapshot.current(session)
    selected = _filtered(session, snap, query, filters)
    scores: FloatArray | None = None
    if terms:
        few = bool(filters) and int(selected.sum()) <= FEW_CANDIDATES
        within = snap.doc_ids[selected] if few else None
        ids, raw_scores = _text_matches(session, terms, within)
        found, which = snap.positions(ids)
        keep = selected[found]
        positions, scores = found[keep], raw_scores[which][keep]
        selected = np.zeros(snap.size, np.bool_)
        selected[positions] = True
    else:
        positions = np.flatnonzero(selected).astype(np.int64)
    rows = max(0, min(query.rows, 1000))
    start = max(0, query.start)
    page = _page(session, snap, positions, scores, keys, start + rows)[start:]
    facets = _facets(snap, query, selected) if query.facet_fields else {}
    return Result(
        count=len(positions),
        package_ids=[snap.package_ids[int(p)] for p in page],
        facets=facets,
    )


def _facets(
    snap: snapshot.Snapshot, query: Query, selected: BoolArray
) -> dict[str, dict[str, int]]:
    """Value counts per requested field: most frequent first, then by value."""
    counts = snap.counts(selected)
    mincount = max(1, query.facet_mincount)
    facets: dict[str, dict[str, int]] = {}
    for name in query.facet_fields:
        items = sorted(
            (
                (-int(counts[n]), value)
                for (field_name, value), n in snap.values.items()
                if field_name == name and counts[n] >= mincount
            ),
        )
        if query.facet_limit >= 0:
            items = items[: query.facet_limit]
        facets[name] = {value: -negative for negative, value in items}
    return facets


def parse_facet_fields(raw: Any) -> list[str]:
    """CKAN sends ``facet.field`` as a JSON list (or repeated/plain values)."""
    if raw in (None, ""):
        return []
    if isinstance(raw, list):
        return [str(v) for v in raw]
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return [str(raw)]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def indexed_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(OdSearchDoc)).scalar_one()
