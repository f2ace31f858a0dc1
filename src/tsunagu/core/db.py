"""Database engines, sessions and the declarative base shared by all modules.

The same code runs on SQLite (WAL, for laptops and tests) and PostgreSQL
(production); anything dialect-specific is confined to this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg.pq import ExecStatus
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
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
