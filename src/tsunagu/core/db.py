"""Database engines, sessions and the declarative base shared by all modules.

The same code runs on SQLite (WAL, for laptops and tests) and PostgreSQL
(production); anything dialect-specific is confined to this file.
"""

from __future__ import annotations

import re
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from weakref import WeakKeyDictionary

import psycopg
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.rows import RowFactory, RowMaker, namedtuple_row
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    Select,
    Table,
    TextClause,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.interfaces import Compiled
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapper,
    Session,
    SessionTransaction,
    make_transient_to_detached,
    sessionmaker,
)
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.type_api import _BindProcessorType, _ResultProcessorType
from sqlalchemy.sql.util import find_tables
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


UNMANAGED_TABLE_PREFIXES: set[str] = set()


def register_unmanaged_tables(prefix: str) -> None:
    """Declare tables made by migrations but not mapped (e.g. SQLite FTS5 shadow tables).

    Schema comparison between models and migrations skips them.
    """
    UNMANAGED_TABLE_PREFIXES.add(prefix)


def is_unmanaged_table(name: str) -> bool:
    return any(name.startswith(prefix) for prefix in UNMANAGED_TABLE_PREFIXES)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in time: stored as UTC, read back aware, on every backend.

    PostgreSQL's ``timestamptz`` does both itself. SQLite keeps text without a zone:
    SQLAlchemy would store an aware value's wall time (a +09:00 value nine hours off) and
    read every value back naive, which JSON answers then give without a zone. So on SQLite
    values go in as UTC and come out aware; other backends keep SQLAlchemy's own processors
    (no extra call per value).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> _BindProcessorType[datetime] | None:
        store = self.impl_instance.bind_processor(dialect)
        if dialect.name != "sqlite":
            return store

        def in_utc(value: datetime | None) -> Any:
            if value is not None and value.tzinfo is not None:
                value = value.astimezone(UTC)
            return store(value) if store is not None else value

        return in_utc

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> _ResultProcessorType[datetime] | None:
        read = self.impl_instance.result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return read

        def aware(value: Any) -> datetime | None:
            moment = read(value) if read is not None else value
            return None if moment is None else moment.replace(tzinfo=UTC)

        return aware


class Base(DeclarativeBase):
    """Declarative base; constraint names are stable so migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class DescribedColumn(NamedTuple):
    """One column of a result, as DB-API 2 describes it (what SQLAlchemy reads)."""

    name: str
    type_code: int
    display_size: int | None = None
    internal_size: int | None = None
    precision: int | None = None
    scale: int | None = None
    null_ok: bool | None = None


_RESULT_ROWS = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class PlainDescriptionCursor(psycopg.Cursor[Any]):
    """psycopg's cursor, describing results with plain tuples.

    SQLAlchemy reads ``cursor.description`` after every statement, and psycopg
    builds a ``Column`` object per column each time (name, type, size and
    modifier lookups): 2.4 % of the instructions of a fetch over HTTP. Name and
    type code are all SQLAlchemy uses; the sizes psycopg would work out on
    demand are left empty, as DB-API 2 allows.
    """

    @property
    def description(self) -> list[DescribedColumn] | None:  # type: ignore[override]
        result = self.pgresult
        if not result or not (result.nfields or result.status in _RESULT_ROWS):
            return None
        encoding = self.connection.info.encoding
        return [
            DescribedColumn((result.fname(i) or b"").decode(encoding), result.ftype(i))
            for i in range(result.nfields)
        ]


class DriverQuery:
    """A constant query (or INSERT/UPDATE … RETURNING) run straight on the driver's cursor.

    SQLAlchemy's work around each execution (cache-key lookup, execution context,
    result set-up) costs a client about 60 µs, as much as a PostgreSQL round trip
    and far more than SQLite's own work; the few statements every request or every
    fetch runs are compiled once and handed to the driver instead.

    On PostgreSQL, only for statements whose parameters and columns need no
    SQLAlchemy type processing there (text, numbers, booleans, timestamps, dates).
    On SQLite, which keeps timestamps and dates as text, the type processing
    SQLAlchemy would do is done here with the same processors, made once per
    statement, so values come back as they would through SQLAlchemy. Never for
    statements that expand lists. Other drivers run the statement through
    SQLAlchemy; rows answer by name and by position either way. The caller
    flushes first where pending ORM changes must be seen: this does not autoflush.

    ``caller_sees_late``: tables whose late rows (below) this query need not see,
    because its caller looks into them itself (``waiting_rows``); they stay waiting.
    """

    def __init__(
        self,
        statement: Select[*tuple[Any, ...]] | TextClause | Insert | Update,
        *,
        caller_sees_late: Iterable[Table] = (),
    ) -> None:
        self.statement = statement
        self._caller_sees_late = frozenset(caller_sees_late)
        self._compiled: tuple[str, dict[str, Any]] | None = None
        self._row: RowMaker[Any] | None = None
        self._sqlite: _SqliteForm | None = None
        self._touches: frozenset[str] | None = None  # set with the psycopg SQL

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> Sequence[Any]:
        driver = connection.dialect.driver
        if driver == "pysqlite":
            return (self._sqlite or self._compile_sqlite(connection)).rows(connection, parameters)
        if driver != "psycopg":
            return connection.execute(self.statement, dict(parameters)).all()
        sql, defaults = self._compiled or self._compile(connection)
        _write_late_rows_for(connection, self._touches)
        cursor = _kept_cursor(connection, self, self._row_maker)
        with _as_sqlalchemy_errors(connection, sql, parameters):
            cursor.execute(sql, defaults | dict(parameters) if defaults else parameters)
            return cursor.fetchall()

    def _row_maker(self, cursor: psycopg.Cursor[Any]) -> RowMaker[Any]:
        """Named rows; the row type is made once, as the query's columns never change."""
        if self._row is None:
            maker = namedtuple_row(cursor)
            if not (cursor.pgresult and cursor.pgresult.nfields):
                return maker  # no result yet: nothing to learn the columns from
            self._row = maker
        return self._row

    def _compile(self, connection: Connection) -> tuple[str, dict[str, Any]]:
        compiled = self.statement.compile(dialect=connection.dialect)
        _refuse_expanding(compiled)
        if compiled.positional:
            raise TypeError("DriverQuery needs named parameters on PostgreSQL")
        # before _compiled: a thread may see it
        self._touches = _touched_tables(self.statement, self._caller_sees_late)
        self._compiled = (compiled.string, _own_values(compiled))  # two threads compiling agree
        return self._compiled

    def _compile_sqlite(self, connection: Connection) -> _SqliteForm:
        self._sqlite = _SqliteForm.of(self.statement, connection.dialect)
        return self._sqlite


def _own_values(compiled: Compiled) -> dict[str, Any]:
    """Values the statement binds itself (a literal in a WHERE clause, LIMIT 1 …)."""
    assert isinstance(compiled, SQLCompiler)
    return {n: v for n, v in compiled.params.items() if not compiled.binds[n].required}


def _refuse_expanding(compiled: Compiled) -> None:
    if getattr(compiled, "post_compile_params", None):
        raise TypeError("DriverQuery binds no expanding lists")


_Processor = Callable[[Any], Any] | None
_MakeRow = Callable[[Iterable[Any]], tuple[Any, ...]]


@dataclass(frozen=True)
class _SqliteForm:
    """A statement as sqlite3 runs it: ``?`` SQL, and SQLAlchemy's processors in and out.

    SQLAlchemy's SQLite dialect keeps dates and timestamps as ISO text and booleans
    as integers; the processors its types give for this dialect are the ones its
    own execution applies, taken once here instead of at every execution.
    """

    sql: str
    names: tuple[str, ...]  # the parameter of each ``?``, in order
    defaults: dict[str, Any]  # values the statement itself binds (LIMIT 1 …)
    binds: tuple[_Processor, ...]
    results: tuple[_Processor, ...]  # one per column; empty for untyped text
    row: list[_MakeRow] = field(default_factory=list)  # made at the first rows

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect) -> _SqliteForm:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        _refuse_expanding(compiled)
        names = tuple(compiled.positiontup or ())
        selected = getattr(statement, "selected_columns", None)
        # a query's columns, or those an INSERT … RETURNING answers with
        columns = selected if selected is not None else getattr(statement, "exported_columns", ())
        return cls(
            sql=compiled.string,
            names=names,
            defaults=_own_values(compiled),
            binds=tuple(
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in names
            ),
            results=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            ),
        )

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> list[Any]:
        driver = _sqlite_in_transaction(connection)
        with _as_sqlalchemy_errors(connection, self.sql, parameters):
            cursor = driver.execute(self.sql, self._values(parameters))
            fetched = cursor.fetchall()
        make = self.row[0] if self.row else self._row_maker(cursor)
        if not self.results:
            return [make(r) for r in fetched]
        return [make(_processed(self.results, r)) for r in fetched]

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        driver = _sqlite_in_transaction(connection)
        with _as_sqlalchemy_errors(connection, self.sql, rows[0]):
            driver.executemany(self.sql, [self._values(row) for row in rows])

    def _values(self, parameters: Mapping[str, Any]) -> tuple[Any, ...]:
        """The ``?`` values in order, processed as SQLAlchemy would bind them."""
        values = (parameters[n] if n in parameters else self.defaults[n] for n in self.names)
        return tuple(_processed(self.binds, values))

    def _row_maker(self, cursor: sqlite3.Cursor) -> _MakeRow:
        """Rows named as the SQL labels its columns (as psycopg names PostgreSQL's)."""
        names = [d[0] for d in cursor.description or ()]
        row_type: Any = namedtuple("Row", names, rename=True)  # type: ignore[misc]
        make: _MakeRow = row_type._make
        self.row.append(make)
        return make


def _processed(processors: Sequence[_Processor], values: Iterable[Any]) -> Iterator[Any]:
    """Each value through its processor; None stays None, as SQLAlchemy's processors keep it."""
    return (
        process(value) if process is not None and value is not None else value
        for process, value in zip(processors, values, strict=True)
    )


def _autobegin(connection: Connection) -> None:
    """Open the SQLAlchemy transaction as its own execution would, before the driver runs."""
    if not connection.in_transaction():
        connection.begin()


def _sqlite_in_transaction(connection: Connection) -> sqlite3.Connection:
    _autobegin(connection)
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


def insert_on_driver(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *, late: bool = False
) -> None:
    """INSERT ``rows`` into ``table``: each row names the same columns, every one it sets.

    Straight on sqlite3 or psycopg, with SQLAlchemy's bind processors (see
    ``DriverQuery``): the hot appends (audit records, the access log, cases, outbox
    events) skip SQLAlchemy's execution, which for one row cost more than the row.
    Column defaults made in Python are not applied, so rows name every column that
    has no server default. Other drivers get one SQLAlchemy INSERT, ``inline`` (no
    key is fetched back), several rows at once. ``late``: see "Late rows" below.
    """
    if not rows:
        return
    driver = connection.dialect.driver
    if driver == "pysqlite":
        _insert_form(table, tuple(rows[0]), connection.dialect).run_many(connection, rows)
    elif driver == "psycopg":
        writer = _psycopg_insert(table, tuple(rows[0]), connection.dialect)
        if late:
            _add_late_rows(connection, writer, rows)
        else:
            writer.run(connection, rows)
    else:
        connection.execute(insert(table).inline(), list(rows))


def _insert_of(table: Table, columns: tuple[str, ...]) -> Insert:
    return insert(table).values(
        {name: bindparam(name, type_=table.c[name].type) for name in columns}
    )


@lru_cache(maxsize=64)
def _insert_form(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _SqliteForm:
    return _SqliteForm.of(_insert_of(table, columns), dialect)


# Rows per INSERT statement on PostgreSQL: far below its 65,535 parameters for any table.
_ROWS_PER_INSERT = 100


# Where each placeholder's value comes from: (row, column) for an INSERT of some rows.
_Order = tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class _PsycopgInsert:
    """An INSERT as psycopg runs it: SQLAlchemy's SQL for the dialect, with the bind
    processors SQLAlchemy has for those columns there (most have none).

    Several rows go as one multi-row statement (up to ``_ROWS_PER_INSERT``): psycopg's
    ``executemany`` would send and run one statement per row, each with the client's
    per-statement work (the nine audit records of a submission cost nine). Sent in
    PostgreSQL's own placeholders (see ``_native``).
    """

    table: Table
    columns: tuple[str, ...]
    dialect: Dialect
    processed: tuple[str, ...]  # the columns SQLAlchemy processes before binding
    binds: tuple[_Processor, ...]  # their processors, in that order
    # by number of rows: the SQL, and where each placeholder's value comes from
    statements: dict[int, tuple[str, _Order]] = field(default_factory=dict)

    def run(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        _write_late_rows_for(connection, _neighbours(self.table))
        self.run_bound(connection, self.bound(rows))

    def bound(self, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
        """The rows with SQLAlchemy's bind processing done."""
        return [self._bound(row) for row in rows] if self.processed else rows

    def run_bound(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            sql, order = self.statements.get(len(chunk)) or self._compile(len(chunk))
            with _as_sqlalchemy_errors(connection, sql, chunk[0]):
                _raw_cursor(connection).execute(sql, [chunk[i][c] for i, c in order])

    def _compile(self, count: int) -> tuple[str, _Order]:
        sql, order, _updates = _native_writes(
            (("insert", self.table, self.columns, count),), self.dialect
        )
        self.statements[count] = (sql, tuple((i, c) for _w, i, c in order))  # threads agree
        return self.statements[count]

    def _bound(self, row: Mapping[str, Any]) -> dict[str, Any]:
        values = (row[name] for name in self.processed)
        return {**row, **dict(zip(self.processed, _processed(self.binds, values), strict=True))}


# A late write's shape: ("insert", table, columns, rows) or ("update", table, columns, key).
_Shape = tuple[str, Table, tuple[str, ...], Any]


@lru_cache(maxsize=128)
def _native_writes(
    shape: tuple[_Shape, ...], dialect: Dialect
) -> tuple[str, tuple[tuple[int, int, str], ...], tuple[int, ...]]:
    """One statement for the writes of ``shape``: its SQL; per placeholder, where its value
    is (write, row, column); and which writes are UPDATEs, whose row counts it answers.

    An INSERT of several rows is one multi-row INSERT. Several writes go in data-modifying
    WITHs: of the last INSERT, or, with UPDATEs among them, of a SELECT of their counts.
    An UPDATE's row binds its key columns as ``key_<column>``.
    """
    places: dict[str, tuple[int, int, str]] = {}
    statements: list[Any] = []
    for w, (kind, table, columns, extent) in enumerate(shape):
        if kind == "insert":
            rows = [{c: f"w{w}_{c}_{i}" for c in columns} for i in range(extent)]
            places.update({n: (w, i, c) for i, row in enumerate(rows) for c, n in row.items()})
            values = [{c: bindparam(n, type_=table.c[c].type) for c, n in r.items()} for r in rows]
            statements.append(insert(table).values(values))
            continue
        places.update({f"w{w}_{c}": (w, 0, c) for c in columns})
        places.update({f"w{w}_key_{k}": (w, 0, f"key_{k}") for k in extent})
        statements.append(_keyed_update(table, columns, extent, f"w{w}_"))
    updates = tuple(w for w, element in enumerate(shape) if element[0] == "update")
    if len(statements) == 1 and not updates:
        main = statements[0]
    elif not updates:
        main = statements[-1].add_cte(*(s.cte(f"w{w}") for w, s in enumerate(statements[:-1])))
    else:
        withs = [statement.cte(f"w{w}") for w, statement in enumerate(statements)]
        main = select(
            *(select(func.count()).select_from(withs[w]).scalar_subquery() for w in updates)
        ).add_cte(*withs)
    sql, names = _native(str(main.compile(dialect=dialect)))
    return sql, tuple(places[name] for name in names), updates


_PYFORMAT = re.compile(r"%\((\w+)\)s|%%")


@lru_cache(maxsize=256)
def _native(sql: str) -> tuple[str, tuple[str, ...]]:
    """SQL compiled for psycopg (``%(name)s``) in PostgreSQL's ``$1 …`` placeholders, and the
    name bound at each.

    psycopg converts a statement's placeholders with a regular expression at every
    execution once it has more than 50 parameters or 4,096 characters (its cache stops
    there): the multi-row INSERTs spent more on that than on everything else. Sent as
    they are through a ``RawCursor``, with the values in order, nothing is converted.
    """
    names: list[str] = []

    def place(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "%"
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PYFORMAT.sub(place, sql), tuple(names)


_RAW = "tsunagu.db.raw_cursor"


def _raw_cursor(connection: Connection) -> psycopg.RawCursor[Any]:
    """The connection's one raw cursor: it converts no query, so one serves every SQL
    (a cursor kept per statement would grow with the shapes of late writes)."""
    cursor = _kept_cursor(connection, _RAW, raw=True)
    assert isinstance(cursor, psycopg.RawCursor)
    return cursor


@lru_cache(maxsize=64)
def _psycopg_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _PsycopgInsert:
    processors = (
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in columns
    )
    processed = [(name, p) for name, p in processors if p is not None]
    return _PsycopgInsert(
        table,
        columns,
        dialect,
        tuple(n for n, _p in processed),
        tuple(p for _n, p in processed),
    )


# Late rows (PostgreSQL). Appends whose outcome nobody reads in their transaction and
# whose failure is a fault, not an answer (evidence rows, fresh outbox events, the access
# log, the audit records written at commit) each cost a statement: its round trip is
# ~80 µs of a worker's CPU here, plus the server's per-statement work. Marked late, they
# wait on the connection and are written together, one statement for all (each table's
# rows one INSERT, a data-modifying WITH of the last one), just before the first statement
# that could see them: a read or write of their tables or of tables their keys point to
# (DriverQuery knows its tables; one may leave a table's rows to its caller, who looks
# into them with ``waiting_rows``), any statement of unknown tables (SQL text,
# SQLAlchemy's own executions, SAVEPOINT and ROLLBACK TO included, which then undo them
# as they would have), or COMMIT. So every statement sees them as if written when asked;
# a rollback drops those still waiting, which it would have undone. SQLite writes them at
# once. (A raw DB-API cursor bypasses all this: opendata's COPY and search use one, on
# tables no late row is written to.)
_LATE: WeakKeyDictionary[Any, list[_LateRows]] = WeakKeyDictionary()  # by DB-API connection
# Parameters a merged statement may bind (PostgreSQL allows 65,535).
_LATE_PARAMETERS = 30_000


@dataclass(frozen=True)
class _LateRows:
    shape: _Shape
    rows: Sequence[Mapping[str, Any]]  # bound already
    insert: _PsycopgInsert | None = None  # what writes them in chunks, for INSERTs

    @classmethod
    def inserted_by(cls, writer: _PsycopgInsert, rows: Sequence[Mapping[str, Any]]) -> _LateRows:
        return cls(("insert", writer.table, writer.columns, len(rows)), rows, writer)

    @property
    def parameters(self) -> int:
        return len(self.rows) * len(self.rows[0])


def _waiting(connection: Connection) -> list[_LateRows]:
    """The late rows of the connection's transaction (begun here if need be)."""
    _autobegin(connection)
    return _LATE.setdefault(connection.connection.dbapi_connection, [])


def _add_late_rows(
    connection: Connection, writer: _PsycopgInsert, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Rows for a table and columns already waiting join those, in order: one INSERT
    writes them all, so keys the database numbers ascend as the rows were made."""
    waiting = _waiting(connection)
    bound = writer.bound(rows)
    for i, late in enumerate(waiting):
        if late.insert is not None and late.shape[1:3] == (writer.table, writer.columns):
            waiting[i] = _LateRows.inserted_by(writer, [*late.rows, *bound])
            return
    waiting.append(_LateRows.inserted_by(writer, bound))


def _write_late_rows_for(connection: Connection, tables: frozenset[str] | None) -> None:
    """Write the late rows first if the next statement could see them (``None``: unknown)."""
    if not _LATE:
        return
    waiting = _LATE.get(connection.connection.dbapi_connection)
    if waiting and (tables is None or any(w.shape[1].name in tables for w in waiting)):
        _write_late_rows(connection)


def waiting_rows(connection: Connection, table: Table) -> Iterator[Mapping[str, Any]]:
    """Rows inserted late into ``table`` on this connection and not written yet (as bound
    for the driver), for a caller whose query leaves them waiting (``caller_sees_late``)."""
    if not _LATE:
        return
    for late in _LATE.get(connection.connection.dbapi_connection, ()):
        if late.insert is not None and late.shape[1] is table:
            yield from late.rows


def _write_late_rows(connection: Connection) -> None:
    waiting = _LATE.pop(connection.connection.dbapi_connection, None)
    if not waiting:
        return
    oversized = [w for w in waiting if w.insert is not None and len(w.rows) > _ROWS_PER_INSERT]
    if not oversized and sum(w.parameters for w in waiting) <= _LATE_PARAMETERS:
        _write_together(connection, waiting)
        return
    for late in waiting:
        if late.insert is not None:
            late.insert.run_bound(connection, late.rows)
        else:
            _write_together(connection, [late])


def _write_together(connection: Connection, waiting: Sequence[_LateRows]) -> None:
    sql, order, updates = _native_writes(tuple(w.shape for w in waiting), connection.dialect)
    cursor = _raw_cursor(connection)
    with _as_sqlalchemy_errors(connection, sql, {}):
        cursor.execute(sql, [waiting[w].rows[i][c] for w, i, c in order])
        counts = cursor.fetchone() if updates else ()
    for w, count in zip(updates, counts or (), strict=True):
        if count != 1:
            raise StaleDataError(f"{waiting[w].shape[1].name} {waiting[w].rows[0]} is gone")


def _touched_tables(
    statement: ClauseElement, unseen: frozenset[Table] = frozenset()
) -> frozenset[str] | None:
    """What a statement reads or writes, with the tables whose rows its rows could need
    (its keys' targets; for a DELETE, the tables that point at its rows too), but for
    ``unseen``. ``None`` for SQL text, whose tables are unknown."""
    if isinstance(statement, TextClause):
        return None
    found = find_tables(statement, include_crud=True)
    tables = {t for t in found if isinstance(t, Table) and t not in unseen}
    touched = set().union(*(_neighbours(t) for t in tables))
    if isinstance(statement, Delete):
        touched |= {
            other.name
            for t in tables
            for other in t.metadata.tables.values()
            if any(fk.column.table is t for fk in other.foreign_keys)
        }
    return frozenset(touched)


@lru_cache(maxsize=256)
def _neighbours(table: Table) -> frozenset[str]:
    """The table and the tables its foreign keys point to."""
    return frozenset({table.name, *(fk.column.table.name for fk in table.foreign_keys)})


def _write_late_rows_before_cursor_execute(connection: Connection, *_args: Any) -> None:
    """Before each statement SQLAlchemy sends (``exec_driver_sql``'s too, which the
    ``before_execute`` event would miss)."""
    if _LATE:
        _write_late_rows(connection)


def _write_late_rows_at_commit(connection: Connection) -> None:
    """Before COMMIT; if they fail, the transaction is rolled back here, as a failed
    COMMIT would leave it (SQLAlchemy then issues none, its commit having failed)."""
    if not _LATE:
        return
    try:
        _write_late_rows(connection)
    except (DBAPIError, StaleDataError):
        connection.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
        raise


def _drop_late_rows(connection: Connection) -> None:
    if _LATE:
        _LATE.pop(connection.connection.dbapi_connection, None)


def _drop_late_rows_on_checkin(dbapi_connection: Any, _record: Any) -> None:
    if _LATE:
        _LATE.pop(dbapi_connection, None)


def _late_rows_on(engine: Engine) -> None:
    event.listen(engine, "before_cursor_execute", _write_late_rows_before_cursor_execute)
    event.listen(engine, "commit", _write_late_rows_at_commit)
    event.listen(engine, "rollback", _drop_late_rows)
    event.listen(engine, "checkin", _drop_late_rows_on_checkin)


@contextmanager
def _as_sqlalchemy_errors(
    connection: Connection, sql: str, parameters: Mapping[str, Any]
) -> Iterator[None]:
    """Driver errors as SQLAlchemy raises them, so callers handle them as from any statement.

    (A lock timeout is ``OperationalError`` with the driver's error as ``orig``,
    a unique violation ``IntegrityError``; a lost connection is invalidated.)
    """
    try:
        yield
    except (psycopg.Error, sqlite3.Error) as error:
        dbapi_error: Any = error  # the driver's, which SQLAlchemy's DB-API typing does not name
        if connection.dialect.is_disconnect(
            dbapi_error, connection.connection.dbapi_connection, None
        ):
            connection.invalidate(error)
        raise DBAPIError.instance(
            sql,
            dict(parameters),
            error,
            connection.dialect.loaded_dbapi.Error,
            dialect=connection.dialect,
        ) from error


_KEPT_CURSORS = "tsunagu.db.kept_cursors"


def _kept_cursor(
    connection: Connection,
    statement: object,
    row_maker: RowFactory[Any] | None = None,
    *,
    raw: bool = False,
) -> psycopg.Cursor[Any]:
    """The cursor kept with the DB-API connection for one statement (psycopg).

    A cursor that runs the same query object again keeps its adaptation set-up
    (transformer, converted query, dumpers); a new cursor per execution rebuilt
    them, ~30 µs a statement. The pool's ``info`` lives as long as the DB-API
    connection and is emptied when SQLAlchemy replaces a connection.
    """
    _autobegin(connection)
    kept: dict[object, psycopg.Cursor[Any]] = connection.connection.info.setdefault(
        _KEPT_CURSORS, {}
    )
    cursor = kept.get(statement)
    if cursor is None or cursor.closed:
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        if raw:
            cursor = kept[statement] = psycopg.RawCursor(driver)
        else:
            cursor = kept[statement] = (
                driver.cursor(row_factory=row_maker) if row_maker else driver.cursor()
            )
    return cursor


_LOCK_TIMEOUT = re.compile(r"[0-9]{1,6}(ms|s)")


def begin_with_lock_timeout(connection: Connection, timeout: str) -> bool:
    """Open the transaction with its lock timeout set, in BEGIN's round trip (psycopg).

    psycopg sends BEGIN by itself before a transaction's first statement, so a
    transaction that bounds its lock waits (``SET LOCAL lock_timeout``) pays a
    round trip for each. Sent together as one simple query, psycopg then finds
    the transaction open and adds no BEGIN. Returns False, doing nothing, where
    that does not apply: another driver, a transaction already open, or a
    connection with isolation settings of its own for its BEGIN.
    """
    if not _LOCK_TIMEOUT.fullmatch(timeout):
        raise ValueError(f"not a lock timeout: {timeout!r}")
    driver = connection.connection.driver_connection
    if (
        not isinstance(driver, psycopg.Connection)
        or driver.info.transaction_status != TransactionStatus.IDLE
        or (driver.isolation_level, driver.read_only, driver.deferrable) != (None, None, None)
    ):
        return False
    result = driver.pgconn.exec_(f"BEGIN; SET LOCAL lock_timeout = '{timeout}'".encode())
    if result.status != ExecStatus.COMMAND_OK:
        raise psycopg.OperationalError((result.error_message or b"BEGIN failed").decode())
    return True


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite also create the parent folder and turn on WAL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    # No pre-ping: it is a round trip before every request's first statement. A
    # connection the server dropped fails its statement once, and SQLAlchemy then
    # discards the whole pool (disconnect detection), so the next request reconnects;
    # recycling keeps connections from outliving server-side idle timeouts.
    kwargs.setdefault("pool_recycle", 1800)
    psycopg_driver = parsed.get_driver_name() == "psycopg"
    if psycopg_driver:
        kwargs["connect_args"] = {"cursor_factory": PlainDescriptionCursor} | kwargs.get(
            "connect_args", {}
        )
    engine = create_engine(url, **kwargs)
    if psycopg_driver:
        # Several rows in one INSERT … VALUES statement, as SQLAlchemy already does
        # when it needs RETURNING. Otherwise psycopg's executemany runs them in
        # pipeline mode, whose loop polls for the results while holding the GIL:
        # 15 % of a loaded worker's GIL time went there (audit batches, ORM flushes).
        engine.dialect.use_insertmanyvalues_wo_returning = True
        _late_rows_on(engine)
    return engine


_Loaded = TypeVar("_Loaded", bound=Base)


def get_on_driver(session: Session, cls: type[_Loaded], key: Any) -> _Loaded | None:
    """``session.get(cls, key)``, reading the row with a ``DriverQuery``.

    For the hot path that loads one object a request (an application being submitted):
    the ORM's get spent ~6 % of a submission's CPU in statement caching, execution and
    row processing around one primary-key SELECT. What the row says goes into a new
    instance that joins the session exactly as a loaded one (persistent, nothing
    pending). An object the session already holds, rows it has yet to write, and
    classes that are not plain columns go to ``session.get`` as before.
    """
    mapper: Mapper[_Loaded] = inspect(cls)
    read = _row_query_for(mapper)
    if (
        read is None
        or session.new
        or session.deleted
        or session.identity_key(cls, key) in session.identity_map
    ):
        return session.get(cls, key)
    rows = read.rows(session.connection(), {"key": key})
    if not rows:
        return None
    instance: _Loaded = mapper.class_manager.new_instance()
    vars(instance).update(zip(rows[0]._fields, rows[0], strict=True))
    make_transient_to_detached(instance)  # the state a loaded object has …
    session.add(instance)  # … and in the session's identity map
    return instance


@lru_cache(maxsize=64)
def _row_query_for(mapper: Mapper[Any]) -> DriverQuery | None:
    """``SELECT every column WHERE the key = :key``, or None where attributes are not plain
    columns (or the key has several, or there are relationships to load)."""
    table = _plain_columns(mapper)
    if table is None or len(mapper.primary_key) != 1 or mapper.relationships:
        return None
    columns = (attribute.columns[0] for attribute in mapper.column_attrs)
    return DriverQuery(select(*columns).where(mapper.primary_key[0] == bindparam("key")))


@lru_cache(maxsize=64)
def _plain_columns(mapper: Mapper[Any]) -> Table | None:
    """The mapper's table if each of its column attributes is one column of that table,
    named as the attribute (so a row's names are the attributes'), else None."""
    table = mapper.local_table
    if not isinstance(table, Table):
        return None
    for attribute in mapper.column_attrs:
        columns = attribute.columns
        if len(columns) != 1 or columns[0].table is not table:
            return None
        if not attribute.key == columns[0].key == getattr(columns[0], "name", None):
            return None
    return table


def store_changes(session: Session, instance: Base) -> None:
    """Write what changed in a loaded object with one UPDATE on the driver (late, on
    PostgreSQL: see ``update_on_driver``).

    For the hot path that changes one row a request (a submission deciding its
    application): the unit of work a flush runs for one changed row cost that request
    ~8 % of its CPU, the UPDATE itself a fraction. Afterwards the object is as a flush
    leaves it (persistent, nothing pending), so later changes are flushed as usual.
    Objects this does not cover (one not yet inserted, a relationship or version counter
    changed, a column updated by default, attribute names unlike their columns) and a
    session with rows to insert or delete first (which the UPDATE may depend on) take
    an ordinary flush instead.
    """
    state = inspect(instance)
    changed = tuple(sorted(state.committed_state))
    if not changed:
        return
    table = _plain_table(state.mapper, changed) if state.persistent else None
    if table is None or session.new or session.deleted:
        session.flush()
        return
    key = dict(
        zip((str(c.key) for c in state.mapper.primary_key), state.identity or (), strict=True)
    )
    values = {name: state.dict[name] for name in changed}
    update_on_driver(session.connection(), table, values, key, late=True)
    # What a flush does to an object it wrote: no pending change, no longer dirty.
    state._commit_all(state.dict, session.identity_map)


@lru_cache(maxsize=64)
def _plain_table(mapper: Mapper[Any], changed: tuple[str, ...]) -> Table | None:
    """The mapper's table if ``changed`` are plain columns one UPDATE can write, else None."""
    table = _plain_columns(mapper)
    if table is None or mapper.version_id_col is not None:
        return None
    if any(key not in table.c for key in changed):
        return None  # a relationship changed
    if any(column.onupdate is not None for column in table.columns):
        return None
    return table


def update_on_driver(
    connection: Connection,
    table: Table,
    values: Mapping[str, Any],
    key: Mapping[str, Any],
    *,
    late: bool = False,
) -> None:
    """UPDATE the one row of ``table`` whose columns equal ``key``; ``StaleDataError`` if
    there is none. On the driver (see ``DriverQuery`` for the values it takes).

    ``late`` (PostgreSQL): written with the transaction's late rows, and the row count
    checked there (see "Late rows"): for an update whose row surely exists, e.g. one this
    transaction wrote.
    """
    changed, keys = tuple(sorted(values)), tuple(sorted(key))
    row = dict(values) | {f"key_{k}": v for k, v in key.items()}
    if late and connection.dialect.driver == "psycopg":
        if next(waiting_rows(connection, table), None) is not None:
            _write_late_rows(connection)  # one statement's UPDATE cannot see its own INSERTs
        _waiting(connection).append(_LateRows(("update", table, changed, keys), [row]))
    elif not _update_query(table, changed, keys).rows(connection, row):
        raise StaleDataError(f"{table.name} {dict(key)} is gone")


@lru_cache(maxsize=64)
def _update_query(table: Table, changed: tuple[str, ...], keys: tuple[str, ...]) -> DriverQuery:
    return DriverQuery(_keyed_update(table, changed, keys))


def _keyed_update(
    table: Table, changed: tuple[str, ...], keys: tuple[str, ...], prefix: str = ""
) -> Update:
    """``UPDATE table SET changed WHERE keys RETURNING 1``, binding ``prefix`` + the column
    (``key_<column>`` for a key)."""
    typed = {name: table.c[name].type for name in (*changed, *keys)}
    return (
        update(table)
        .where(*(table.c[k] == bindparam(f"{prefix}key_{k}", type_=typed[k]) for k in keys))
        .values({c: bindparam(f"{prefix}{c}", type_=typed[c]) for c in changed})
        .returning(literal_column("1"))
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


_MEMOS = "tsunagu.transaction_memos"


def transaction_memo(session: Session, name: str) -> dict[Any, Any]:
    """A dict for what one transaction read and may read again (``name`` keeps callers apart).

    Forgotten when the session's outermost transaction ends and when any savepoint is rolled
    back (what was read inside it may be gone): never carried into another transaction.
    """
    memos: dict[str, dict[Any, Any]] = session.info.setdefault(_MEMOS, {})
    return memos.setdefault(name, {})


def _forget_memos(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_MEMOS, None)


def _forget_memos_on_rollback(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_MEMOS, None)


event.listen(Session, "after_transaction_end", _forget_memos)
event.listen(Session, "after_soft_rollback", _forget_memos_on_rollback)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
