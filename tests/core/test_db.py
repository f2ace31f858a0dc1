"""Engines: what core.db tunes for a driver must keep DB-API behaviour intact."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar

import psycopg
import pytest
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    Engine,
    ForeignKey,
    MetaData,
    Table,
    bindparam,
    column,
    func,
    inspect,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import Boolean, Integer, LargeBinary, String

from tsunagu.core import db
from tsunagu.core.db import (
    DescribedColumn,
    DriverQuery,
    PlainDescriptionCursor,
    UTCDateTime,
    begin_with_lock_timeout,
    get_on_driver,
    insert_on_driver,
    store_changes,
    transaction_memo,
    update_on_driver,
    waiting_rows,
)


def test_results_keep_their_column_names_and_types(engine: Engine) -> None:
    with engine.connect() as connection:
        result = connection.execute(text("SELECT 1 AS one, 'つなぐ' AS name"))
        assert list(result.keys()) == ["one", "name"]
        assert result.one()._asdict() == {"one": 1, "name": "つなぐ"}


def test_psycopg_cursors_describe_columns_as_db_api_tuples(engine: Engine) -> None:
    if engine.dialect.driver != "psycopg":
        return  # the plain description is psycopg's only
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        assert isinstance(cursor, PlainDescriptionCursor)
        cursor.execute("SELECT 1::int4 AS one, 'x'::text AS name")
        assert cursor.description == [
            DescribedColumn("one", 23),  # int4
            DescribedColumn("name", 25),  # text
        ]
        assert len(cursor.description[0]) == 7  # DB-API 2: seven items per column
        cursor.execute("SELECT")
        assert cursor.description == []  # rows of no columns
        cursor.execute("SET LOCAL lock_timeout = '1s'")
        assert cursor.description is None  # no rows at all


_TABLE = table("scratch", column("n", Integer), column("name", String), column("flag", Boolean))
_QUERY = (
    select(
        _TABLE.c.n,
        _TABLE.c.name,
        _TABLE.c.flag,
        bindparam("day", type_=Date).label("day"),
        bindparam("moment", type_=UTCDateTime()).label("moment"),
    )
    .where(_TABLE.c.n >= bindparam("least"), _TABLE.c.name != literal("三"))
    .order_by(_TABLE.c.n)
)


@pytest.fixture
def scratch(engine: Engine) -> Iterator[Connection]:
    """A connection with a temporary table of three rows, rolled back afterwards."""
    with engine.connect() as connection:
        connection.execute(
            text("CREATE TEMPORARY TABLE scratch (n INTEGER, name VARCHAR(10), flag BOOLEAN)")
        )
        connection.execute(
            _TABLE.insert(),
            [{"n": 1, "name": "一", "flag": True}, {"n": 2, "name": "二", "flag": False},
             {"n": 3, "name": "三", "flag": True}],
        )  # fmt: skip
        yield connection
        connection.rollback()
        connection.execute(text("DROP TABLE IF EXISTS scratch"))  # SQLite commits DDL at once
        connection.commit()


def test_driver_queries_answer_as_sqlalchemy_does(scratch: Connection) -> None:
    """By name and by position, with the statement's own literals bound, on both backends."""
    parameters = {"least": 1, "day": date(2026, 4, 1), "moment": datetime(2026, 4, 1, tzinfo=UTC)}
    query = DriverQuery(_QUERY)
    expected = [tuple(r) for r in scratch.execute(_QUERY, parameters)]
    for _ in range(2):  # the second run reuses the compiled SQL and the row type
        rows = query.rows(scratch, parameters)
        assert [tuple(r) for r in rows] == expected
        # the same types too (SQLite keeps booleans as 0/1 and dates as text underneath)
        assert [tuple(map(type, r)) for r in rows] == [tuple(map(type, r)) for r in expected]
        assert [(r.n, r.name, r.flag) for r in rows] == [(1, "一", True), (2, "二", False)]
    assert query.rows(scratch, parameters | {"least": 5}) == []
    assert rows[0].day == date(2026, 4, 1)
    assert rows[0].moment == parameters["moment"] and rows[0].moment.tzinfo is not None


_DOCS = Table("docs", MetaData(), Column("n", Integer), Column("doc", JSON))


def test_rows_inserted_on_the_driver_get_sqlalchemys_bind_processing(engine: Engine) -> None:
    """A type SQLAlchemy processes before binding (JSON: serialised) is processed on the
    driver too, for one row and for several."""
    with engine.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE docs (n INTEGER, doc JSON)"))
        try:
            insert_on_driver(connection, _DOCS, [{"n": 1, "doc": {"名前": "一", "k": [1]}}])
            insert_on_driver(connection, _DOCS, [{"n": 2, "doc": [2]}, {"n": 3, "doc": None}])
            read = connection.execute(select(_DOCS).order_by(_DOCS.c.n)).all()
            assert [tuple(r) for r in read] == [(1, {"名前": "一", "k": [1]}), (2, [2]), (3, None)]
        finally:
            connection.rollback()
            connection.execute(text("DROP TABLE IF EXISTS docs"))
            connection.commit()


_MOMENTS = Table("moments", MetaData(), Column("n", Integer), Column("at", UTCDateTime()))


def test_moments_are_stored_as_utc_and_read_back_aware(engine: Engine) -> None:
    """On SQLite too, whose column keeps text without a zone: a +09:00 time is stored as its
    UTC instant and every way of reading it (SQLAlchemy, the driver) gives it back aware."""
    tokyo_nine = datetime(2026, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    with engine.connect() as connection:
        connection.execute(
            text("CREATE TEMPORARY TABLE moments (n INTEGER, at TIMESTAMP WITH TIME ZONE)")
        )
        try:
            connection.execute(_MOMENTS.insert(), [{"n": 1, "at": tokyo_nine}])
            insert_on_driver(
                connection, _MOMENTS, [{"n": 2, "at": tokyo_nine}, {"n": 3, "at": None}]
            )
            read = connection.execute(select(_MOMENTS).order_by(_MOMENTS.c.n)).all()
            driven = DriverQuery(select(_MOMENTS).order_by(_MOMENTS.c.n)).rows(connection, {})
            for rows in (read, driven):
                assert [(n, at) for n, at in rows] == [(1, tokyo_nine), (2, tokyo_nine), (3, None)]
                assert [at.utcoffset() for _n, at in rows[:2]] == [timedelta(0)] * 2
            matched = select(_MOMENTS.c.n).where(_MOMENTS.c.at == datetime(2026, 4, 1, tzinfo=UTC))
            assert connection.execute(matched).scalars().all() == [1, 2]
            if connection.dialect.name == "sqlite":
                stored = connection.exec_driver_sql("SELECT at FROM moments WHERE n = 1").scalar()
                assert stored == "2026-04-01 00:00:00.000000"
        finally:
            connection.rollback()
            connection.execute(text("DROP TABLE IF EXISTS moments"))
            connection.commit()


def test_rows_inserted_on_the_driver_read_back_as_sqlalchemy_writes_them(
    scratch: Connection,
) -> None:
    scratch_table = Table(
        "scratch", MetaData(), Column("n", Integer), Column("name", String), Column("flag", Boolean)
    )
    ours = [{"n": 4, "name": "四", "flag": False}, {"n": 5, "name": None, "flag": True}]
    insert_on_driver(scratch, scratch_table, ours)
    insert_on_driver(scratch, scratch_table, [])  # nothing to insert: no statement
    scratch.execute(scratch_table.insert(), [{"n": 6, "name": "六", "flag": True}])
    stored = scratch.execute(
        text("SELECT n, name, flag FROM scratch WHERE n >= 4 ORDER BY n")
    ).all()
    # read as stored, without SQLAlchemy's types: the same values as SQLAlchemy wrote
    # (SQLite keeps booleans as 0 and 1 both ways)
    assert tuple(map(type, stored[0])) == tuple(map(type, stored[2]))
    assert [tuple(r) for r in stored] == [(4, "四", False), (5, None, True), (6, "六", True)]


def _list_psycopg_statements(patch: pytest.MonkeyPatch, statements: list[str]) -> None:
    """Every statement a psycopg cursor (raw ones too) runs goes into ``statements``."""
    execute = psycopg.Cursor.execute

    def listed(
        cursor: psycopg.Cursor[object], query: object, *args: object, **kw: object
    ) -> object:
        statements.append(str(query))
        return execute(cursor, query, *args, **kw)  # type: ignore[arg-type]

    patch.setattr(psycopg.Cursor, "execute", listed)


def test_many_rows_inserted_on_the_driver_go_in_few_statements(
    scratch: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL several rows are one multi-row INSERT (not a statement per row, as
    ``executemany`` sends), split so no statement outgrows the server's parameter limit."""
    monkeypatch.setattr(db, "_ROWS_PER_INSERT", 2)
    scratch_table = Table("scratch", MetaData(), Column("n", Integer), Column("name", String))
    statements: list[str] = []
    _list_psycopg_statements(monkeypatch, statements)
    insert_on_driver(scratch, scratch_table, [{"n": n, "name": f"名{n}"} for n in range(10, 15)])
    insert_on_driver(scratch, scratch_table, [{"n": 15, "name": None}])
    stored = scratch.execute(text("SELECT n, name FROM scratch WHERE n >= 10 ORDER BY n")).all()
    assert [tuple(r) for r in stored] == [(n, f"名{n}") for n in range(10, 15)] + [(15, None)]
    if scratch.dialect.name == "postgresql":
        inserts = [s for s in statements if s.startswith("INSERT")]
        assert len(inserts) == 4  # rows 2 + 2 + 1, then the single row
        assert inserts[0].count("), (") == 1 and inserts[2] == inserts[3]


def test_driver_query_errors_arrive_as_sqlalchemys(scratch: Connection) -> None:
    """A failed statement raises what SQLAlchemy raises for it, with the driver's error as orig."""
    missing = DriverQuery(text("SELECT n FROM nowhere WHERE n = :n"))
    with pytest.raises(DBAPIError) as raised:
        missing.rows(scratch, {"n": 1})
    assert "nowhere" in str(raised.value.orig)
    scratch.rollback()
    with pytest.raises((KeyError, DBAPIError), match="day"):  # never bound as NULL
        DriverQuery(_QUERY).rows(scratch, {"least": 1, "moment": datetime.now(UTC)})


def test_driver_queries_refuse_lists_they_cannot_bind(scratch: Connection) -> None:
    query = DriverQuery(select(_TABLE.c.n).where(_TABLE.c.n.in_(bindparam("ns", expanding=True))))
    with pytest.raises(TypeError, match="expanding"):
        query.rows(scratch, {"ns": [1, 2]})


def test_a_transaction_can_open_with_its_lock_timeout(engine: Engine) -> None:
    """psycopg: BEGIN and SET LOCAL in one round trip, psycopg adds no BEGIN; elsewhere a no-op."""
    with engine.connect() as connection:
        with pytest.raises(ValueError, match="lock timeout"):
            begin_with_lock_timeout(connection, "50ms'; DROP TABLE x; --")
        opened = begin_with_lock_timeout(connection, "50ms")
        assert opened == (engine.dialect.driver == "psycopg")
        if not opened:
            return
        assert not begin_with_lock_timeout(connection, "50ms")  # already in a transaction
        assert connection.execute(text("SHOW lock_timeout")).scalar_one() == "50ms"
        began_earlier = text("SELECT now() < statement_timestamp()")  # now(): the BEGIN's time
        assert connection.execute(began_earlier).scalar_one() is True
        connection.commit()
        # ended with the transaction (SET LOCAL), and the connection is usable as usual
        assert connection.execute(text("SHOW lock_timeout")).scalar_one() == "0"
        connection.rollback()


def test_driver_queries_survive_errors_and_replaced_connections(engine: Engine) -> None:
    """The cursor kept per statement and connection stays usable after a failed statement
    and is made anew for a connection the pool replaced."""
    ratio = DriverQuery(select((literal(10) / bindparam("d", type_=Integer)).label("q")))
    with engine.connect() as connection:
        assert ratio.rows(connection, {"d": 2})[0].q == 5
        if engine.dialect.name == "postgresql":  # SQLite answers NULL
            with pytest.raises(DBAPIError):
                ratio.rows(connection, {"d": 0})
            connection.rollback()
        assert ratio.rows(connection, {"d": 5})[0].q == 2
        connection.invalidate()
    with engine.connect() as connection:
        assert ratio.rows(connection, {"d": 1})[0].q == 10


def test_a_transaction_memo_lives_as_long_as_what_it_remembers(
    session_factory: sessionmaker[Session],
) -> None:
    """Kept through the transaction and a released savepoint; gone after a savepoint is
    rolled back (what was read inside may be gone) and after the transaction ends."""
    with session_factory() as session:
        transaction_memo(session, "test")["read"] = 1
        with session.begin_nested():
            transaction_memo(session, "test")["inside"] = 2
        assert transaction_memo(session, "test") == {"read": 1, "inside": 2}
        savepoint = session.begin_nested()
        savepoint.rollback()
        assert transaction_memo(session, "test") == {}
        transaction_memo(session, "test")["again"] = 3
        session.commit()
        assert transaction_memo(session, "test") == {}
        session.connection()  # the next transaction
        transaction_memo(session, "other")["x"] = 4
        session.rollback()
        assert transaction_memo(session, "other") == {}


class _Scratch(DeclarativeBase):
    """Mapped classes of temporary tables, apart from the platform's metadata."""


class _Note(_Scratch):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    seen: Mapped[bool] = mapped_column(Boolean)
    day: Mapped[date | None] = mapped_column(Date)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)


class _Tag(_Scratch):
    __tablename__ = "tags"

    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(20), primary_key=True)


class _Counted(_Scratch):
    __tablename__ = "counted"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version}


@pytest.fixture
def notes(engine: Engine) -> Iterator[tuple[Session, list[str]]]:
    """A session on a connection with tables of notes, and the statements its driver runs."""
    statements: list[str] = []
    with engine.connect() as connection:
        for name in ("notes", "tags", "counted"):
            _Scratch.metadata.tables[name].create(connection)
        connection.commit()
        driver = connection.connection.driver_connection
        if isinstance(driver, sqlite3.Connection):
            driver.set_trace_callback(statements.append)
        session = Session(bind=connection)
        with pytest.MonkeyPatch.context() as patch:
            _list_psycopg_statements(patch, statements)
            yield session, statements
        session.close()
        connection.rollback()
        _Scratch.metadata.drop_all(connection)
        connection.commit()


def test_stored_changes_are_one_update_and_leave_nothing_to_flush(
    notes: tuple[Session, list[str]],
) -> None:
    """One UPDATE (on PostgreSQL late: with the next statement that could see it), and the
    object as a flush leaves it; later changes flush as usual."""
    session, statements = notes
    postgresql = session.get_bind().dialect.name == "postgresql"
    session.add(_Note(id=1, body="一", at=None, seen=False))
    session.commit()
    note = session.get(_Note, 1)
    assert note is not None
    moment = datetime(2026, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    note.body, note.at = "二", moment
    statements.clear()
    store_changes(session, note)
    assert note not in session.dirty and not inspect(note).modified
    session.flush()  # nothing left for the unit of work
    updates = [s for s in statements if "UPDATE notes" in s]
    assert len(updates) == (0 if postgresql else 1)
    stored = session.execute(select(_Note.body, _Note.at, _Note.seen)).one()
    assert tuple(stored) == ("二", moment, False)
    updates = [s for s in statements if "UPDATE notes" in s]
    assert len(updates) == 1
    if postgresql:  # written with the read's statement: a count of the rows it changed
        assert " ".join(updates[0].split()).startswith("WITH w0 AS (UPDATE notes")
    note.seen = True  # a later change is flushed as usual
    session.commit()
    assert session.execute(select(_Note.seen)).scalar_one() is True
    statements.clear()
    store_changes(session, note)  # nothing changed: no statement
    session.commit()
    assert not [s for s in statements if "UPDATE" in s]


def test_stored_changes_of_a_vanished_row_fail_as_a_flush_would(
    notes: tuple[Session, list[str]],
) -> None:
    """StaleDataError, at once on SQLite, where the late UPDATE is written on PostgreSQL
    (here the commit, which then keeps nothing)."""
    session, _statements = notes
    session.add(_Note(id=1, body="一", at=None, seen=False))
    session.commit()
    note = session.get(_Note, 1)
    assert note is not None
    session.execute(text("DELETE FROM notes"))
    note.body = "二"
    with pytest.raises(StaleDataError):
        store_changes(session, note)
        session.commit()
    session.rollback()
    assert session.execute(select(func.count()).select_from(_NOTES)).scalar_one() == 1


def test_what_one_update_cannot_store_is_flushed(notes: tuple[Session, list[str]]) -> None:
    """A version counter, a new object, or rows waiting in the session: an ordinary flush."""
    session, _statements = notes
    session.add_all([_Note(id=1, body="一", at=None, seen=False), _Counted(id=1, body="一")])
    session.commit()
    counted, note = session.get(_Counted, 1), session.get(_Note, 1)
    assert counted is not None and note is not None
    counted.body = "二"
    store_changes(session, counted)
    assert counted.version == 2 and not inspect(counted).modified
    note.body = "二"
    session.add(_Note(id=2, body="新", at=None, seen=True))  # the UPDATE might depend on it
    store_changes(session, note)
    assert not session.new and not inspect(note).modified
    assert session.execute(select(_Note.id, _Note.body).order_by(_Note.id)).all() == [
        (1, "二"),
        (2, "新"),
    ]
    fresh = _Note(id=3, body="三", at=None, seen=False)
    session.add(fresh)
    store_changes(session, fresh)  # not inserted yet
    assert inspect(fresh).persistent


def test_an_object_read_on_the_driver_is_the_one_the_orm_loads(
    notes: tuple[Session, list[str]],
) -> None:
    """Same values and types, persistent with nothing pending; changes flush as usual."""
    session, statements = notes
    moment = datetime(2026, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    stored = {
        "body": "一",
        "at": moment,
        "seen": True,
        "day": date(2026, 4, 1),
        "blob": b"\x00\xff",
    }
    session.add(_Note(id=1, **stored))
    session.add(_Note(id=2, body="二", at=None, seen=False, day=None, blob=None))
    session.commit()
    columns = [*stored, "id"]
    for key in (1, 2):
        session.expunge_all()
        loaded = session.get(_Note, key)
        assert loaded is not None
        expected = {c: getattr(loaded, c) for c in columns}
        session.expunge_all()
        statements.clear()
        read = get_on_driver(session, _Note, key)
        assert read is not None and len(statements) == 1
        assert {c: getattr(read, c) for c in columns} == expected
        assert [type(getattr(read, c)) for c in columns] == [type(v) for v in expected.values()]
        assert inspect(read).persistent and not inspect(read).modified
        assert get_on_driver(session, _Note, key) is read  # the session's own, no statement
        assert len(statements) == 1
    assert get_on_driver(session, _Note, 99) is None
    read.body = "改"  # type: ignore[union-attr]
    session.commit()
    assert session.execute(select(_Note.body).where(_Note.id == 2)).scalar_one() == "改"
    session.add(_Note(id=3, body="三", at=None, seen=False, day=None, blob=None))
    assert get_on_driver(session, _Note, 3) is not None  # written first, as get would


_NOTES, _TAGS = _Scratch.metadata.tables["notes"], _Scratch.metadata.tables["tags"]


def _note(n: int) -> dict[str, object]:
    return {"id": n, "body": f"記{n}", "at": None, "seen": False, "day": None, "blob": None}


def _writes(statements: list[str]) -> list[str]:
    return [" ".join(s.split()[:3]) for s in statements if s.split()[0] in ("INSERT", "WITH")]


def test_late_rows_go_in_one_statement_before_what_could_see_them(
    notes: tuple[Session, list[str]],
) -> None:
    """Late rows of two tables: one statement at commit, or earlier for a statement that
    could see them (their table, or a table whose key points at them); none for others."""
    session, statements = notes
    postgresql = session.get_bind().dialect.name == "postgresql"
    connection = session.connection()
    insert_on_driver(connection, _NOTES, [_note(1), _note(2)], late=True)
    insert_on_driver(connection, _TAGS, [{"note_id": 1, "tag": "a"}], late=True)
    unrelated = DriverQuery(select(_Counted.id))
    unrelated.rows(connection, {})
    if postgresql:  # SQLite writes them at once
        assert not _writes(statements)
    session.commit()
    if postgresql:
        assert [w[:10] for w in _writes(statements)] == ["WITH w0 AS"]
    statements.clear()
    read = DriverQuery(select(_TAGS.c.tag).where(_TAGS.c.note_id == bindparam("n")))
    insert_on_driver(session.connection(), _TAGS, [{"note_id": 2, "tag": "b"}], late=True)
    assert [r.tag for r in read.rows(session.connection(), {"n": 2})] == ["b"]
    insert_on_driver(session.connection(), _NOTES, [_note(3)], late=True)
    insert_on_driver(session.connection(), _TAGS, [{"note_id": 3, "tag": "c"}])  # its key
    assert session.execute(select(_Note.id).order_by(_Note.id)).scalars().all() == [1, 2, 3]
    insert_on_driver(session.connection(), _NOTES, [_note(4)], late=True)
    counted = session.connection().exec_driver_sql("SELECT count(*) FROM notes").scalar()
    assert counted == 4  # SQL text through SQLAlchemy sees them too
    session.commit()


def test_late_rows_of_a_table_are_one_insert_which_a_query_may_leave_to_its_caller(
    notes: tuple[Session, list[str]],
) -> None:
    """Late rows for one table join those waiting, in order; a query told its caller looks
    into them (``caller_sees_late``) leaves them waiting, and ``waiting_rows`` shows them; a
    late UPDATE of a row still waiting to be inserted has it written first, so finds it."""
    session, statements = notes
    postgresql = session.get_bind().dialect.name == "postgresql"
    connection = session.connection()
    insert_on_driver(connection, _NOTES, [_note(1)], late=True)
    insert_on_driver(connection, _TAGS, [{"note_id": 1, "tag": "a"}], late=True)
    insert_on_driver(connection, _NOTES, [_note(2), _note(3)], late=True)
    blind = DriverQuery(select(func.count()).select_from(_NOTES), caller_sees_late=(_NOTES,))
    counted = blind.rows(connection, {})[0][0]
    waiting = [row["id"] for row in waiting_rows(connection, _NOTES)]
    if postgresql:
        assert (counted, waiting) == (0, [1, 2, 3]) and not _writes(statements)
    else:  # written at once
        assert (counted, waiting) == (3, [])
    update_on_driver(connection, _NOTES, {"body": "改"}, {"id": 2}, late=True)
    session.commit()
    assert sum(s.count("INSERT INTO notes") for s in statements) == (1 if postgresql else 3)
    assert session.execute(select(_Note.id, _Note.body).order_by(_Note.id)).all() == [
        (1, "記1"), (2, "改"), (3, "記3"),
    ]  # fmt: skip


def test_late_rows_are_undone_as_rows_written_at_once_would_be(
    notes: tuple[Session, list[str]],
) -> None:
    """A rolled-back savepoint drops the late rows made inside it (and keeps the others),
    a rolled-back transaction all of them; the next transaction writes none of them."""
    session, _statements = notes
    insert_on_driver(session.connection(), _NOTES, [_note(1)], late=True)
    with pytest.raises(RuntimeError), session.begin_nested():
        insert_on_driver(session.connection(), _NOTES, [_note(2)], late=True)
        raise RuntimeError("refused")
    session.commit()
    assert session.execute(select(_Note.id)).scalars().all() == [1]
    insert_on_driver(session.connection(), _NOTES, [_note(4)], late=True)
    session.rollback()
    DriverQuery(text("SELECT 1")).rows(session.connection(), {})
    session.commit()
    assert session.execute(select(_Note.id)).scalars().all() == [1]


def test_a_late_row_that_fails_fails_the_transaction(notes: tuple[Session, list[str]]) -> None:
    """Late rows are for writes whose failure is a fault: it surfaces at the statement that
    writes them (here the commit), as SQLAlchemy raises it, and nothing is kept."""
    session, _statements = notes
    session.add(_Note(**_note(1)))  # type: ignore[arg-type]
    session.commit()
    with pytest.raises(IntegrityError):  # on SQLite at once
        insert_on_driver(session.connection(), _TAGS, [{"note_id": 1, "tag": "a"}], late=True)
        insert_on_driver(session.connection(), _NOTES, [_note(1)], late=True)  # a duplicate
        session.commit()
    session.rollback()
    assert session.execute(select(func.count()).select_from(_TAGS)).scalar_one() == 0


def test_an_update_on_the_driver_changes_its_one_row_or_says_it_is_gone(
    notes: tuple[Session, list[str]],
) -> None:
    session, _statements = notes
    session.add(_Note(**_note(1)))  # type: ignore[arg-type]
    session.commit()
    connection = session.connection()
    update_on_driver(connection, _NOTES, {"body": "改", "seen": True}, {"id": 1})
    with pytest.raises(StaleDataError):
        update_on_driver(connection, _NOTES, {"body": "無"}, {"id": 99})
    assert session.execute(select(_Note.body, _Note.seen)).one() == ("改", True)
