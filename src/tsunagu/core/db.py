"""Database engines, sessions and the declarative base shared by all modules.

The same code runs on SQLite (WAL, for laptops and tests) and PostgreSQL
(production); anything dialect-specific is confined to this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.rows import RowFactory, RowMaker, namedtuple_row
from sqlalchemy import Connection, Engine, MetaData, Select, TextClause, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

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
    """A constant query that runs straight on psycopg's cursor on PostgreSQL.

    SQLAlchemy's work around each execution (cache-key lookup, execution context,
    result set-up) costs a client about 60 µs, as much as the round trip itself;
    the few statements every request or every fetch runs are compiled once and
    handed to the driver instead. Only for statements whose parameters and
    columns need no SQLAlchemy type processing on PostgreSQL (text, numbers,
    booleans, timestamps, dates) and that expand no lists. Other dialects run
    them through SQLAlchemy (SQLite, for one, keeps timestamps as text), so the
    rows answer by name and by position either way. The caller flushes first
    where pending ORM changes must be seen: this does not autoflush.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]] | TextClause) -> None:
        self.statement = statement
        self._compiled: tuple[str, dict[str, Any]] | None = None
        self._row: RowMaker[Any] | None = None

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> Sequence[Any]:
        if connection.dialect.driver != "psycopg":
            return connection.execute(self.statement, dict(parameters)).all()
        sql, defaults = self._compiled or self._compile(connection)
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
        if compiled.positional or compiled.post_compile_params:
            raise TypeError("DriverQuery needs named parameters and no expanding lists")
        # values the statement itself binds (e.g. a literal in a WHERE clause)
        defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self._compiled = (compiled.string, defaults)  # two threads compiling agree
        return self._compiled


def execute_on_driver(connection: Connection, sql: str, parameters: Mapping[str, Any]) -> None:
    """Run a statement compiled beforehand for this connection's dialect, on its driver.

    For the hot writes whose SQL is built once per shape (see ``DriverQuery``
    for why SQLAlchemy's execution is skipped); the values must be ones the
    driver adapts as they are. Parameters are bound by name, so on a driver
    other than psycopg the SQL must use that driver's named style (SQLite's
    ``:name``, not the ``?`` SQLAlchemy compiles for it).
    """
    if connection.dialect.driver != "psycopg":
        connection.exec_driver_sql(sql, dict(parameters))
        return
    cursor = _kept_cursor(connection, sql)
    with _as_sqlalchemy_errors(connection, sql, parameters):
        cursor.execute(sql, parameters)


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
    except psycopg.Error as error:
        dbapi_error: Any = error  # psycopg's, which SQLAlchemy's DB-API typing does not name
        if connection.dialect.is_disconnect(
            dbapi_error, connection.connection.dbapi_connection, None
        ):
            connection.invalidate(error)
        raise DBAPIError.instance(
            sql, dict(parameters), error, psycopg.Error, dialect=connection.dialect
        ) from error


_KEPT_CURSORS = "tsunagu.db.kept_cursors"


def _kept_cursor(
    connection: Connection, statement: object, row_maker: RowFactory[Any] | None = None
) -> psycopg.Cursor[Any]:
    """The cursor kept with the DB-API connection for one statement (psycopg).

    A cursor that runs the same query object again keeps its adaptation set-up
    (transformer, converted query, dumpers); a new cursor per execution rebuilt
    them, ~30 µs a statement. The pool's ``info`` lives as long as the DB-API
    connection and is emptied when SQLAlchemy replaces a connection.
    """
    if not connection.in_transaction():
        connection.begin()  # as SQLAlchemy's own execution would (autobegin)
    kept: dict[object, psycopg.Cursor[Any]] = connection.connection.info.setdefault(
        _KEPT_CURSORS, {}
    )
    cursor = kept.get(statement)
    if cursor is None or cursor.closed:
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
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
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


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
