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
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal_column, select, text
from sqlalchemy.orm import Session
from sudachipy import Dictionary, SplitMode

from tsunagu.core.errors import ValidationError
from tsunagu.opendata.models import OdSearchDoc, OdSearchFacet

FACET_FIELDS = ("organization", "tags", "res_format", "license_id", "groups")
SKIPPED_POS = {"助詞", "助動詞", "補助記号", "空白"}
OPTIONAL_POS = {"接尾辞", "接頭辞"}
TITLE_WEIGHT = 10.0
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


def _morphemes(value: str, mode: SplitMode) -> list[tuple[str, str]]:
    """(normalized lower-case form, part of speech) of each morpheme worth indexing."""
    out: list[tuple[str, str]] = []
    # Sudachi refuses inputs above ~49 KB; descriptions longer than that are cut in chunks.
    for start in range(0, len(value), 8000):
        for m in _tokenizer().tokenize(value[start : start + 8000], mode):
            pos = m.part_of_speech()[0]
            if pos in SKIPPED_POS:
                continue
            form = m.normalized_form().lower().strip()
            if form:
                out.append((form, pos))
    return out


def analyze(value: str) -> list[str]:
    """Index terms: mode-A normalized forms plus differing mode-C compounds."""
    if not value:
        return []
    terms = [form for form, _ in _morphemes(value, SplitMode.A)]
    seen = set(terms)
    for form, _ in _morphemes(value, SplitMode.C):
        if form not in seen:
            seen.add(form)
            terms.append(form)
    return terms


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


def index(session: Session, docs: list[IndexDoc]) -> None:
    """(Re)index datasets in the caller's transaction."""
    if not docs:
        return
    remove(session, [d.package_id for d in docs])
    postgres = _is_postgres(session)
    rows = []
    for doc in docs:
        rows.append(
            {
                "package_id": doc.package_id,
                "name": doc.name,
                "title_sort": doc.title.lower()[:500],
                "title_tokens": " ".join(analyze(doc.title)),
                "body_tokens": " ".join(analyze(doc.body)),
                "owner_org": doc.owner_org,
                "private": doc.private,
                "metadata_created": doc.metadata_created,
                "metadata_modified": doc.metadata_modified,
            }
        )
    statement = insert(OdSearchDoc)
    if postgres:
        # the weighted vector is computed by the server in the same INSERT
        statement = statement.values(
            tsv=_weighted("pg_title", "A").op("||")(_weighted("pg_body", "B"))
        )
        rows = [{**r, "pg_title": r["title_tokens"], "pg_body": r["body_tokens"]} for r in rows]
    ids = list(
        session.execute(
            statement.returning(OdSearchDoc.id, sort_by_parameter_order=True), rows
        ).scalars()
    )
    facet_rows = []
    for doc_id, doc in zip(ids, docs, strict=True):
        for name, values in doc.facets.items():
            for value in dict.fromkeys(v[:200] for v in values if v):
                facet_rows.append({"doc_id": doc_id, "field": name, "value": value})
    if facet_rows:
        session.execute(insert(OdSearchFacet), facet_rows)
    if not postgres:
        session.execute(
            text("INSERT INTO opendata_fts(rowid, title, body) VALUES (:id, :t, :b)"),
            [
                {"id": i, "t": r["title_tokens"], "b": r["body_tokens"]}
                for i, r in zip(ids, rows, strict=True)
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
    session.execute(delete(OdSearchFacet).where(OdSearchFacet.doc_id.in_(ids)))
    if not _is_postgres(session):
        session.execute(
            text("DELETE FROM opendata_fts WHERE rowid = :id"), [{"id": i} for i in ids]
        )
    session.execute(delete(OdSearchDoc).where(OdSearchDoc.id.in_(ids)))


def clear(session: Session) -> None:
    session.execute(delete(OdSearchFacet))
    if not _is_postgres(session):
        session.execute(text("DELETE FROM opendata_fts"))
    session.execute(delete(OdSearchDoc))


_FQ_TERM = re.compile(r'([+-]?)([A-Za-z_]+):(?:"([^"]*)"|(\S+))')
_SORTS = {
    "metadata_modified": "d.metadata_modified",
    "metadata_created": "d.metadata_created",
    "name": "d.name",
    "title_string": "d.title_sort",
    "title": "d.title_sort",
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


def _order_by(sort: str, has_text: bool, postgres: bool) -> str:
    parts = []
    for piece in (sort or "").split(","):
        words = piece.split()
        if not words:
            continue
        column, direction = words[0], (words[1].lower() if len(words) > 1 else "asc")
        if direction not in ("asc", "desc"):
            raise search_error(f"並び順 {direction}", f"sort direction {direction!r}")
        if column == "score":
            if has_text:
                parts.append("score DESC" if postgres else "score ASC")
            continue
        if column not in _SORTS:
            raise search_error(f"並び替えできない項目 {column}", f"cannot sort on {column!r}")
        parts.append(f"{_SORTS[column]} {direction.upper()}")
    if not parts:
        parts = [("score DESC" if postgres else "score ASC")] if has_text else []
        parts.append("d.metadata_modified DESC")
    parts.append("d.id ASC")
    return ", ".join(parts)


def search(session: Session, query: Query) -> Result:
    """Run a CKAN-style query against the index; visibility is part of the query."""
    postgres = _is_postgres(session)
    free, filters = _parse_filters(query.fq, query.q)
    terms = query_terms(free) if free else []
    params: dict[str, Any] = {}
    where: list[str] = []
    if query.private_orgs is not None:
        if query.private_orgs:
            keys = [f"po{i}" for i in range(len(query.private_orgs))]
            params.update(zip(keys, query.private_orgs, strict=True))
            where.append(
                f"(d.private = false OR d.owner_org IN ({', '.join(':' + k for k in keys)}))"
            )
        else:
            where.append("d.private = false")
    for n, (negate, name, value) in enumerate(filters):
        key = f"f{n}"
        if name == "private":
            where.append("d.private = " + ("true" if negate else "false"))
            continue
        if name in ("name", "id", "owner_org"):
            column = {"name": "d.name", "id": "d.package_id", "owner_org": "d.owner_org"}[name]
            where.append(f"{'NOT ' if negate else ''}{column} = :{key}")
        else:
            # the (field, value, doc_id) index yields the matching documents directly
            members = (
                f"d.id IN (SELECT x.doc_id FROM opendata_search_facets x"
                f" WHERE x.field = :{key}n AND x.value = :{key})"
            )
            where.append(f"NOT {members}" if negate else members)
            params[f"{key}n"] = name
        params[key] = value
    if terms:
        if postgres:
            source = "opendata_search_docs d"
            where.append("d.tsv @@ plainto_tsquery('simple', :terms)")
            score = "ts_rank(d.tsv, plainto_tsquery('simple', :terms))"
            params["terms"] = " ".join(terms)
        else:
            source = "opendata_fts JOIN opendata_search_docs d ON d.id = opendata_fts.rowid"
            where.append("opendata_fts MATCH :terms")
            score = f"bm25(opendata_fts, {TITLE_WEIGHT}, 1.0)"
            params["terms"] = " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)
    else:
        source, score = "opendata_search_docs d", "0"
    condition = " AND ".join(where) or "1=1"
    order = _order_by(query.sort, bool(terms), postgres)
    rows = max(0, min(query.rows, 1000))
    # one scan gives both the page and the total (count(*) over the whole match)
    page = session.execute(
        text(
            f"SELECT d.package_id, d.score, count(*) OVER () AS total FROM"
            f" (SELECT d.id, d.package_id, d.name, d.title_sort, d.metadata_created,"
            f" d.metadata_modified, {score} AS score FROM {source} WHERE {condition}) AS d"
            f" ORDER BY {order} LIMIT :rows OFFSET :start"
        ),
        {**params, "rows": rows, "start": max(0, query.start)},
    ).all()
    if page:
        count = page[0][2]
    else:
        count = session.execute(
            text(f"SELECT count(*) FROM {source} WHERE {condition}"), params
        ).scalar_one()
    facets = _facets(session, query, source, condition, params) if query.facet_fields else {}
    return Result(count=count, package_ids=[r[0] for r in page], facets=facets)


def _facets(
    session: Session, query: Query, source: str, condition: str, params: dict[str, Any]
) -> dict[str, dict[str, int]]:
    unknown = set(query.facet_fields) - set(FACET_FIELDS)
    if unknown:
        raise search_error(
            f"集計できない項目 {sorted(unknown)}", f"cannot facet on {sorted(unknown)}"
        )
    keys = [f"ff{i}" for i in range(len(query.facet_fields))]
    rows = session.execute(
        text(
            f"SELECT f.field, f.value, count(*) AS n FROM opendata_search_facets f"
            f" WHERE f.field IN ({', '.join(':' + k for k in keys)}) AND f.doc_id IN"
            f" (SELECT d.id FROM {source} WHERE {condition})"
            f" GROUP BY f.field, f.value HAVING count(*) >= :mincount"
            f" ORDER BY n DESC, f.value ASC"
        ),
        {
            **params,
            **dict(zip(keys, query.facet_fields, strict=True)),
            "mincount": max(1, query.facet_mincount),
        },
    ).all()
    facets: dict[str, dict[str, int]] = {name: {} for name in query.facet_fields}
    for name, value, n in rows:
        if len(facets[name]) < query.facet_limit or query.facet_limit < 0:
            facets[name][value] = n
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
