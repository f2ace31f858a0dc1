"""Datastore: tabular resources (CSV, TSV, Excel) loaded into tables, queried like CKAN.

Encoding is detected, not assumed: UTF-8 (with or without BOM) first, then
charset-normalizer's best guess, with Shift_JIS widened to CP932 (Windows'
superset that Japanese spreadsheets actually write, with ① and ㈱).

Columns are typed by a first pass over the whole file (int → numeric → text;
a value with a leading zero such as a 地方公共団体コード stays text) and the
rows inserted by a second pass: ``executemany`` on SQLite, ``COPY`` on
PostgreSQL. Table columns are ``c0…cN`` (field names may be long Japanese
headings, beyond PostgreSQL's 63-byte identifiers); the CKAN field ids live in
``opendata_datastore_tables.fields``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes
from sqlalchemy import Engine, delete, text
from sqlalchemy.orm import Session

from tsunagu.core.clock import utcnow
from tsunagu.core.errors import NotFoundError, ValidationError
from tsunagu.core.outbox import service as outbox
from tsunagu.opendata.models import OdDatastoreTable, OdResource
from tsunagu.opendata.storage import Storage

SAMPLE_BYTES = 256 * 1024
BATCH = 20_000
MAX_LIMIT = 32_000
# Columns with at most this many distinct values keep their value counts, so the
# total of a filter on one of them (区分 = 公園) needs no COUNT over the table.
COUNTED_VALUES = 1_000
COUNTED_LENGTH = 100
COUNTED_FROM_ROWS = 10_000
WALK_ROWS = 20_000  # rows SQLite may read in sort order to fill one page
INT_RE = re.compile(r"^-?(0|[1-9]\d{0,17})$")
LEADING_ZERO_RE = re.compile(r"^[-+]?0\d")
TOPIC_LOAD = "opendata.datastore.load"
TABULAR = {"CSV": ",", "TSV": "\t", "TXT": ","}
EXCEL = {"XLSX", "XLSM"}
csv.field_size_limit(10 * 1024 * 1024)


class DatastoreError(ValidationError):
    def __init__(self, message_ja: str, message_en: str) -> None:
        super().__init__("opendata.datastore", message_ja, message_en)


def detect_encoding(sample: bytes) -> str:
    """The encoding of a text file from its first bytes."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(sample) - 4:  # cut in the middle of a character at the sample's end
            return "utf-8"
    best = from_bytes(sample).best()
    name = (best.encoding if best else "cp932").lower().replace("-", "_")
    if name in ("shift_jis", "shift_jisx0213", "shift_jis_2004", "sjis", "ms932", "cp932"):
        return "cp932"
    return name


def _table_name(resource_id: str) -> str:
    return "ds_" + re.sub(r"[^0-9a-f]", "", resource_id.lower())[:40]


def _classify(value: str, current: str) -> str:
    if value == "" or current == "text":
        return current
    if LEADING_ZERO_RE.match(value):
        return "text"  # a code such as 011002, whose zeros matter
    if current in ("", "int") and INT_RE.match(value):
        return "int"
    try:
        float(value)
    except ValueError:
        return "text"
    return "text" if value.lower() in ("nan", "inf", "-inf", "infinity") else "numeric"


CONVERTERS: dict[str, Callable[[str], Any]] = {"int": int, "numeric": float, "text": str}


class _Source:
    """Re-readable rows of a tabular file (header first)."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt.upper()
        if self.fmt in EXCEL:
            self.encoding = "xlsx"
        else:
            with path.open("rb") as handle:
                self.encoding = detect_encoding(handle.read(SAMPLE_BYTES))

    def rows(self) -> Iterator[list[str]]:
        if self.fmt in EXCEL:
            yield from self._excel_rows()
            return
        delimiter = TABULAR.get(self.fmt, ",")
        try:
            with self.path.open(encoding=self.encoding, newline="") as handle:
                for row in csv.reader(handle, delimiter=delimiter):
                    yield [cell.strip() for cell in row]
        except UnicodeDecodeError as exc:
            raise DatastoreError(
                f"文字コード {self.encoding} として読めない箇所があります"
                f"（{exc.start}バイト目付近）。",
                f"The file is not valid {self.encoding} near byte {exc.start}.",
            ) from exc

    def _excel_rows(self) -> Iterator[list[str]]:
        from openpyxl import load_workbook

        workbook = load_workbook(self.path, read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            for row in sheet.iter_rows(values_only=True):
                yield ["" if v is None else excel_text(v) for v in row]
        finally:
            workbook.close()


def excel_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def _headers(raw: list[str]) -> list[str]:
    names: list[str] = []
    for index, cell in enumerate(raw):
        name = cell.strip().lstrip("\ufeff") or f"field{index + 1}"
        base, n = name, 2
        while name in names or name.startswith("_"):
            name = f"{base}_{n}" if not base.startswith("_") else f"f{base}"
            n += 1
        names.append(name)
    return names


def _infer(source: _Source) -> tuple[list[str], list[str], int, list[dict[str, int] | None]]:
    """Headers, column types, row count and, per column, counts of its values when few.

    Columns leave the typing loop once they are text and the counting loop
    once they have too many values, so a million rows cost little beyond
    reading them.
    """
    rows = source.rows()
    try:
        headers = _headers(next(rows))
    except StopIteration as exc:
        raise DatastoreError("ファイルが空です。", "The file is empty.") from exc
    width = len(headers)
    kinds = [""] * width
    tallies: list[dict[str, int] | None] = [{} for _ in headers]
    typing, counting = list(range(width)), list(range(width))
    count = 0
    for row in rows:
        if not any(row):
            continue
        count += 1
        if len(row) < width:
            row = row + [""] * (width - len(row))
        changed = False
        for i in typing:
            kinds[i] = _classify(row[i], kinds[i])
            changed = changed or kinds[i] == "text"
        for i in counting:
            value = row[i]
            tally = tallies[i]
            if not value or tally is None:
                continue
            seen = tally.get(value)
            if seen is not None:
                tally[value] = seen + 1
            elif len(tally) < COUNTED_VALUES and len(value) <= COUNTED_LENGTH:
                tally[value] = 1
            else:
                tallies[i], changed = None, True
        if changed:
            typing = [i for i in typing if kinds[i] != "text"]
            counting = [i for i in counting if tallies[i] is not None]
    kinds = [k or "text" for k in kinds]
    counts = [_counts(t, k, count) for t, k in zip(tallies, kinds, strict=True)]
    return headers, kinds, count, counts


def _counts(tally: dict[str, int] | None, kind: str, rows: int) -> dict[str, int] | None:
    """Counts keyed as filters compare them; none for small tables or numeric columns
    (whose text "1.50" is not the value 1.5 a filter compares)."""
    if tally is None or rows < COUNTED_FROM_ROWS or kind == "numeric":
        return None
    if kind == "text":
        return tally
    counts: dict[str, int] = {}
    for value, n in tally.items():
        key = str(int(value))
        counts[key] = counts.get(key, 0) + n
    return counts


def _records(source: _Source, kinds: list[str]) -> Iterator[list[Any]]:
    width = len(kinds)
    converters = [CONVERTERS[k] for k in kinds]
    rows = source.rows()
    next(rows)
    for row in rows:
        if not any(row):
            continue
        cells = row[:width] if len(row) >= width else row + [""] * (width - len(row))
        values = [convert(v) if v else None for convert, v in zip(converters, cells, strict=True)]
        values.append(" ".join(v for v in cells if v).lower())
        yield values


SQL_TYPES = {"int": "BIGINT", "numeric": "DOUBLE PRECISION", "text": "TEXT"}


def drop(session: Session, resource_id: str) -> None:
    meta = session.get(OdDatastoreTable, resource_id)
    if meta is None:
        return
    session.execute(text(f'DROP TABLE IF EXISTS "{meta.table_name}"'))
    session.execute(delete(OdDatastoreTable).where(OdDatastoreTable.resource_id == resource_id))


def load_file(session: Session, resource_id: str, path: Path, fmt: str) -> OdDatastoreTable:
    """(Re)load ``path`` as the datastore table of ``resource_id`` in the caller's transaction."""
    source = _Source(path, fmt)
    headers, kinds, count, tallies = _infer(source)
    drop(session, resource_id)
    table = _table_name(resource_id)
    columns = ", ".join(f"c{i} {SQL_TYPES[k]}" for i, k in enumerate(kinds))
    postgres = session.get_bind().dialect.name == "postgresql"
    id_type = "BIGSERIAL" if postgres else "INTEGER"
    session.execute(
        text(f'CREATE TABLE "{table}" (_id {id_type} PRIMARY KEY, {columns}, _full_text TEXT)')
    )
    names = [f"c{i}" for i in range(len(kinds))] + ["_full_text"]
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        if postgres:
            with cursor.copy(f'COPY "{table}" ({", ".join(names)}) FROM STDIN') as copy:
                for record in _records(source, kinds):
                    copy.write_row(record)
        else:
            statement = (
                f'INSERT INTO "{table}" ({", ".join(names)}) VALUES '
                f"({', '.join('?' for _ in names)})"
            )
            batch: list[list[Any]] = []
            for record in _records(source, kinds):
                batch.append(record)
                if len(batch) >= BATCH:
                    cursor.executemany(statement, batch)
                    batch.clear()
            if batch:
                cursor.executemany(statement, batch)
    finally:
        cursor.close()
    # every column indexed: filters, sorts and filtered totals stay fast on large tables
    for i in range(len(kinds)):
        session.execute(text(f'CREATE INDEX "ix_{table}_c{i}" ON "{table}" (c{i})'))
    # statistics now, not when autovacuum gets round to it: the planner needs them to
    # choose an index for a filter over a scan in _id order
    if not postgres:
        session.execute(text("PRAGMA analysis_limit = 1000"))  # a sample is enough
    session.execute(text(f'ANALYZE "{table}"'))
    if count and session.execute(text(f'SELECT max(_id) FROM "{table}"')).scalar() != count:
        raise DatastoreError(
            "行番号 _id が連続していません。", "Row ids (_id) of the loaded table are not 1..n."
        )
    fields: list[dict[str, Any]] = []
    for i, (header, kind, tally) in enumerate(zip(headers, kinds, tallies, strict=True)):
        field: dict[str, Any] = {"id": header, "type": kind, "column": f"c{i}"}
        if tally is not None:
            field["value_counts"] = tally
        fields.append(field)
    meta = OdDatastoreTable(
        resource_id=resource_id,
        table_name=table,
        fields=fields,
        row_count=count,
        encoding=source.encoding,
        loaded_at=utcnow(),
    )
    session.add(meta)
    resource = session.get(OdResource, resource_id)
    if resource is not None:
        resource.datastore_active = True
    session.flush()
    return meta


def is_tabular(resource: OdResource) -> bool:
    return resource.format.upper() in TABULAR or resource.format.upper() in EXCEL


def load_resource(
    session: Session, resource: OdResource, storage: Storage
) -> OdDatastoreTable | None:
    """Load an uploaded tabular resource; a broken file is recorded on the resource, not raised."""
    if not (resource.storage_key and is_tabular(resource)):
        return None
    extras = dict(resource.extras or {})
    extras.pop("datastore_error", None)
    try:
        with session.begin_nested():
            meta = load_file(
                session, resource.id, storage.path(resource.storage_key), resource.format
            )
    except DatastoreError as exc:
        extras["datastore_error"] = f"{exc.message_ja} / {exc.message_en}"
        resource.extras = extras
        resource.datastore_active = False
        return None
    resource.extras = extras
    from tsunagu.opendata import recommended

    recommended.validate_resource(session, resource, storage)
    return meta


def load_after_upload(session: Session, resource: OdResource, storage: Storage) -> None:
    """Small files load at once (the preview is there on the next page); big ones via the worker."""
    if not is_tabular(resource):
        return
    from tsunagu.opendata.config import opendata_settings

    if (resource.size or 0) <= opendata_settings().datastore_sync_limit:
        load_resource(session, resource, storage)
    else:
        outbox.publish(session, TOPIC_LOAD, {"resource_id": resource.id})


# ------------------------------------------------------------------ search


def _json_param(value: Any, name: str) -> Any:
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise _invalid(name, "JSONを解釈できません", "could not parse JSON") from exc
    return value


def _invalid(name: str, ja: str, en: str) -> ValidationError:
    from tsunagu.opendata.service import CatalogValidationError

    return CatalogValidationError({name: [f"{ja} / {en}"]})


def table_for(session: Session, resource_id: str) -> OdDatastoreTable:
    meta = session.get(OdDatastoreTable, resource_id)
    if meta is None:
        raise NotFoundError(
            "opendata.datastore_missing",
            f"リソース {resource_id} はデータストアにありません。",
            f"Resource {resource_id} is not in the datastore.",
        )
    return meta


def search(session: Session, resource_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """``datastore_search``: filters, q, fields, sort, limit, offset, include_total.

    Pages in ``_id`` order without filters start at ``_id > offset`` (the ids of
    a loaded table are 1..n) instead of counting past ``offset`` rows.
    """
    meta = table_for(session, resource_id)
    columns = {"_id": "_id", **{f["id"]: f["column"] for f in meta.fields}}
    kinds = {"_id": "int", **{f["id"]: f["type"] for f in meta.fields}}
    try:
        limit = min(int(params.get("limit", 100)), MAX_LIMIT)
        offset = max(int(params.get("offset", 0)), 0)
    except (TypeError, ValueError) as exc:
        raise _invalid("limit", "整数が必要です", "must be an integer") from exc
    walk = _walk_sort_index(session, meta, params, offset + limit)
    where, binds = _where(params, columns, kinds, "+" if walk else "")
    fields = _fields(params, columns)
    order = _sort(params.get("sort"), columns)
    select_list = ", ".join(f'{columns[f]} AS "{i}"' for i, f in enumerate(fields))
    condition = " AND ".join(where) or "1=1"
    skip = "OFFSET :_offset"
    if not where and order == "_id":
        condition, skip = "_id > :_offset", ""
    rows = session.execute(
        text(
            f'SELECT {select_list} FROM "{meta.table_name}" WHERE {condition} ORDER BY {order}'
            f" LIMIT :_limit {skip}"
        ),
        {**binds, "_limit": limit, "_offset": offset},
    ).all()
    result: dict[str, Any] = {
        "resource_id": resource_id,
        "fields": [{"id": f, "type": kinds[f]} for f in fields],
        "records": [dict(zip(fields, row, strict=True)) for row in rows],
        "limit": limit,
        "offset": offset,
        "_links": {
            "start": f"/api/3/action/datastore_search?resource_id={resource_id}",
            "next": f"/api/3/action/datastore_search?resource_id={resource_id}"
            f"&offset={offset + limit}",
        },
    }
    if str(params.get("include_total", "true")).lower() not in ("false", "0"):
        total = _known_total(meta, params) if where else meta.row_count
        if total is None:
            total = session.execute(
                text(f'SELECT count(*) FROM "{meta.table_name}" WHERE {" AND ".join(where)}'),
                binds,
            ).scalar_one()
        result["total"] = total
        result["total_was_estimated"] = False
    return result


def _walk_sort_index(
    session: Session, meta: OdDatastoreTable, params: dict[str, Any], wanted: int
) -> bool:
    """Whether SQLite should read in sort order and skip non-matching rows (few to skip)
    rather than look up every match and sort them all, which its planner always prefers.

    Known value counts say how many rows the walk reads: about
    ``wanted × rows / matches``. PostgreSQL's planner weighs this itself.
    """
    if session.get_bind().dialect.name != "sqlite" or not params.get("sort"):
        return False
    matches = _known_total(meta, params)
    return matches is not None and 0 < wanted * meta.row_count <= matches * WALK_ROWS


def _known_total(meta: OdDatastoreTable, params: dict[str, Any]) -> int | None:
    """The exact total of a filter on one counted column, from the counts kept at load."""
    filters = _json_param(params.get("filters") or {}, "filters")
    if params.get("q") or not isinstance(filters, dict) or len(filters) != 1:
        return None
    ((name, wanted),) = filters.items()
    field = next((f for f in meta.fields if f["id"] == name), None)
    if field is None or "value_counts" not in field:
        return None
    values = set(wanted if isinstance(wanted, list) else [wanted])
    expected = int if field["type"] == "int" else str
    if not all(type(_filter_value(v, field["type"])) is expected for v in values):
        return None  # compared by the database's rules instead
    counts: dict[str, int] = field["value_counts"]
    return sum(counts.get(str(_filter_value(v, field["type"])), 0) for v in values)


def _where(
    params: dict[str, Any], columns: dict[str, str], kinds: dict[str, str], unindexed: str = ""
) -> tuple[list[str], dict[str, Any]]:
    """Conditions for filters and q; ``unindexed`` ("+" on SQLite) keeps filters off indexes."""
    where: list[str] = []
    binds: dict[str, Any] = {}
    filters = _json_param(params.get("filters") or {}, "filters")
    if not isinstance(filters, dict):
        raise _invalid("filters", "辞書で指定してください", "must be a dictionary")
    for n, (field, wanted) in enumerate(filters.items()):
        if field not in columns:
            raise _invalid("filters", f"項目 {field} はありません", f'field "{field}" not in table')
        values = wanted if isinstance(wanted, list) else [wanted]
        keys = []
        for m, value in enumerate(values):
            key = f"f{n}_{m}"
            binds[key] = _filter_value(value, kinds[field])
            keys.append(":" + key)
        where.append(f"{unindexed}{columns[field]} IN ({', '.join(keys)})")
    q = _json_param(params.get("q") or "", "q")
    if isinstance(q, dict):
        for n, (field, term) in enumerate(q.items()):
            if field not in columns:
                raise _invalid("q", f"項目 {field} はありません", f'field "{field}" not in table')
            binds[f"q{n}"] = f"%{str(term).lower()}%"
            where.append(f"lower(CAST({columns[field]} AS TEXT)) LIKE :q{n}")
    elif q:
        for n, term in enumerate(str(q).lower().split()):
            binds[f"qt{n}"] = f"%{term}%"
            where.append(f"_full_text LIKE :qt{n}")
    return where, binds


def _filter_value(value: Any, kind: str) -> Any:
    if kind in ("int", "numeric") and isinstance(value, str):
        try:
            return int(value) if kind == "int" else float(value)
        except ValueError:
            return value
    return value


def _fields(params: dict[str, Any], columns: dict[str, str]) -> list[str]:
    raw = _json_param(params.get("fields") or "", "fields")
    if not raw:
        return list(columns)
    wanted = raw if isinstance(raw, list) else [f.strip() for f in str(raw).split(",")]
    unknown = [f for f in wanted if f not in columns]
    if unknown:
        raise _invalid("fields", f"項目 {unknown} はありません", f"fields {unknown} not in table")
    return list(wanted)


def _sort(raw: Any, columns: dict[str, str]) -> str:
    if not raw:
        return "_id"
    parts = []
    for piece in str(raw).split(","):
        piece = piece.strip()
        if not piece:
            continue
        match = re.match(r'^"?(.+?)"?(?:\s+(asc|desc))?$', piece, re.IGNORECASE)
        field = match.group(1) if match else piece
        if field not in columns:
            raise _invalid("sort", f"項目 {field} はありません", f'field "{field}" not in table')
        direction = (match.group(2) or "asc").upper() if match else "ASC"
        parts.append(f"{columns[field]} {direction}")
    return ", ".join([*parts, "_id"])


def preview(session: Session, resource_id: str, limit: int = 20) -> dict[str, Any] | None:
    """First rows for the dataset page, or None when the resource is not in the datastore."""
    if session.get(OdDatastoreTable, resource_id) is None:
        return None
    return search(session, resource_id, {"limit": limit})


def drop_all_for_engine(engine: Engine) -> None:
    """Remove every datastore table (tests and ``reindex --purge``)."""
    with engine.begin() as connection:
        names = connection.execute(
            text("SELECT table_name FROM opendata_datastore_tables")
        ).scalars()
        for name in list(names):
            connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
