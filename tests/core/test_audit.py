"""Audit trail: chain integrity, tamper detection, daily Merkle roots."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core import migrate
from tsunagu.core.audit import merkle
from tsunagu.core.audit import service as audit
from tsunagu.core.db import make_engine, make_session_factory, transaction


def _write(factory: sessionmaker[Session], count: int, at: datetime | None = None) -> None:
    with transaction(factory) as session:
        for i in range(count):
            audit.record(
                session,
                actor="official:1",
                action="test.change",
                object_type="thing",
                object_id=str(i),
                data={"i": i, "名前": "山田"},
                at=at,
            )


def _verify(factory: sessionmaker[Session]) -> audit.ChainBreak | None:
    with transaction(factory) as session:
        return audit.verify_chain(session)


def _sql(factory: sessionmaker[Session], statement: str) -> None:
    with transaction(factory) as session:
        session.execute(text(statement))


def test_intact_chain_verifies_across_transactions(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 3)
    _write(session_factory, 4)
    assert _verify(session_factory) is None


def test_records_of_one_object_in_order(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        for action in ("a.first", "a.second"):
            audit.record(session, actor="x", action=action, object_type="case", object_id="7")
        audit.record(session, actor="x", action="a.other", object_type="case", object_id="8")
        audit.record(session, actor="x", action="a.thing", object_type="thing", object_id="7")
    with transaction(session_factory) as session:
        found = audit.records_of(session, "case", "7")
        assert [r.action for r in found] == ["a.first", "a.second"]


def test_rolled_back_records_leave_no_gap(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 2)
    with pytest.raises(RuntimeError), transaction(session_factory) as session:
        audit.record(session, actor="a", action="x", object_type="t", object_id="1")
        raise RuntimeError("business change failed")
    _write(session_factory, 2)
    assert _verify(session_factory) is None


@contextmanager
def _run_by_database(session: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements the database runs for ``session`` meanwhile, however they were sent.

    Hot statements bypass SQLAlchemy (``core.db``), so they are seen at the driver:
    on PostgreSQL each statement psycopg is given (one run for several rows is listed
    once), on SQLite each one sqlite3 runs (a statement run for several rows is listed
    once a row).
    """
    run: list[str] = []
    connection = session.connection().connection.driver_connection
    if isinstance(connection, sqlite3.Connection):
        connection.set_trace_callback(run.append)
        try:
            yield run
        finally:
            connection.set_trace_callback(None)
        return
    for method in ("execute", "executemany"):
        monkeypatch.setattr(psycopg.Cursor, method, _listing(run, method))
    try:
        yield run
    finally:
        monkeypatch.undo()


def _listing(run: list[str], method: str) -> Callable[..., Any]:
    """A cursor method that lists its statement in ``run``, then does its work."""
    driver_method = getattr(psycopg.Cursor, method)

    def listed(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        run.append(str(query))
        return driver_method(cursor, query, *args, **kw)

    return listed


def _inserts(run: list[str], table: str) -> list[str]:
    return [statement for statement in run if statement.startswith(f"INSERT INTO {table} ")]


def test_a_transaction_inserts_its_records_once_and_its_readers_see_them(
    session_factory: sessionmaker[Session], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(session_factory) as session, _run_by_database(session, monkeypatch) as run:
        for _ in range(3):
            audit.record(session, actor="x", action="a.step", object_type="case", object_id="9")
            session.flush()  # ORM flushes between records do not insert them one by one
        assert _inserts(run, "audit_records") == []
        # A query of the trail in the same transaction sees what it has written.
        assert [r.action for r in audit.records_of(session, "case", "9")] == ["a.step"] * 3
        # one INSERT of three rows (SQLite runs it once a row)
        assert len(_inserts(run, "audit_records")) == (1 if engine.dialect.name != "sqlite" else 3)
    assert _verify(session_factory) is None


def test_rollback_to_a_savepoint_drops_only_the_records_made_inside_it(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        audit.record(session, actor="x", action="a.before", object_type="case", object_id="5")
        with pytest.raises(RuntimeError), session.begin_nested():
            audit.record(session, actor="x", action="a.inside", object_type="case", object_id="5")
            # A reader inside the savepoint inserts the records made before it too;
            # the rollback takes those rows away, and they must still be written.
            assert len(audit.records_of(session, "case", "5")) == 2
            raise RuntimeError("this part fails")
        with session.begin_nested():
            audit.record(session, actor="x", action="a.kept", object_type="case", object_id="5")
        audit.record(session, actor="x", action="a.after", object_type="case", object_id="5")
    with transaction(session_factory) as session:
        found = [r.action for r in audit.records_of(session, "case", "5")]
    assert found == ["a.before", "a.kept", "a.after"]
    assert _verify(session_factory) is None
    _write(session_factory, 2)  # the next transaction links onto the trail as committed
    assert _verify(session_factory) is None


def test_altered_row_is_named(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 5)
    _sql(session_factory, "UPDATE audit_records SET actor = 'someone else' WHERE seq = 3")
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 3 and "altered" in broken.reason


def test_altered_data_is_named(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 5)
    with transaction(session_factory) as session:
        session.execute(text("UPDATE audit_records SET data = :d WHERE seq = 2"), {"d": '{"i":99}'})
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 2


def test_deleted_row_is_named(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 5)
    _sql(session_factory, "DELETE FROM audit_records WHERE seq = 4")
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 5 and "deleted" in broken.reason


def test_deleted_last_row_with_renumbering_is_caught(
    session_factory: sessionmaker[Session],
) -> None:
    """Deleting a row and renumbering the rest still breaks the prev_hash links."""
    _write(session_factory, 5)
    _sql(session_factory, "DELETE FROM audit_records WHERE seq = 2")
    for seq in (3, 4, 5):
        _sql(session_factory, f"UPDATE audit_records SET seq = {seq - 1} WHERE seq = {seq}")
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 2


def test_record_moved_to_another_chain_is_caught(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 4)
    _sql(
        session_factory,
        "UPDATE audit_records SET chain = chain + 1"
        " WHERE seq = (SELECT max(seq) FROM audit_records)",
    )
    broken = _verify(session_factory)
    assert broken is not None and "moved" in broken.reason


def test_concurrent_appenders_keep_every_chain_intact(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """Parallel transactions (PostgreSQL: on different chains) never fork or break the trail."""
    errors: list[BaseException] = []

    def appender() -> None:
        try:
            for _ in range(15):
                _write(session_factory, 2)
        except BaseException as exc:
            errors.append(exc)

    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: a single chain")
    threads = [threading.Thread(target=appender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert _verify(session_factory) is None
    with transaction(session_factory) as session:
        count, chains = session.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT chain) FROM audit_records")
        ).one()
    assert count == 4 * 15 * 2
    assert chains > 1


def test_a_transaction_waiting_for_a_chain_links_to_what_its_holder_committed(
    engine: Engine, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every chain held, the next appender waits, then sees the holder's last record.

    Reading the head in the snapshot taken before the lock was granted would link
    to an older record and fork the chain (refused by the unique link).
    """
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: a single chain")
    monkeypatch.setattr(audit, "CHAINS", 1)
    _write(session_factory, 1)
    holder = session_factory()
    audit.record(holder, actor="a", action="test.held", object_type="t", object_id="1")
    audit.flush_pending(holder)
    waited: list[BaseException] = []

    def waiter() -> None:
        try:
            _write(session_factory, 1)
        except BaseException as exc:
            waited.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive(), "the second appender must wait for the only chain"
    holder.commit()
    holder.close()
    thread.join(10)
    assert not waited
    assert _verify(session_factory) is None
    with transaction(session_factory) as session:
        actions = session.execute(text("SELECT action FROM audit_records ORDER BY seq")).scalars()
        assert list(actions) == ["test.change", "test.held", "test.change"]


def test_upgrade_keeps_an_existing_trail_verifiable(tmp_path: Path) -> None:
    """Records written before chains existed stay valid after ``core_0002``, and every one of
    them survives ``core_0005`` (a table copy on SQLite, to drop a unique constraint)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "core@core_0001")
    eng = make_engine(url)
    prev = audit.GENESIS_HASH
    with eng.begin() as connection:
        for seq in (1, 2, 3):
            row = {
                "seq": seq,
                "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
                "actor": "a",
                "action": "x",
                "object_type": "t",
                "object_id": str(seq),
                "data": "{}",
            }
            digest = audit.chain_hash(prev, audit._record_body(row))
            connection.execute(
                text(
                    "INSERT INTO audit_records (seq, occurred_at, day, actor, action, object_type,"
                    " object_id, data, prev_hash, hash) VALUES (:seq, :occurred_at, '2026-01-01',"
                    " :actor, :action, :object_type, :object_id, :data, :prev, :hash)"
                ),
                {**row, "prev": prev, "hash": digest},
            )
            prev = digest
    migrate.upgrade(url)
    with eng.connect() as connection:
        kept = connection.execute(text("SELECT seq, hash FROM audit_records ORDER BY seq")).all()
    assert [seq for seq, _hash in kept] == [1, 2, 3] and kept[-1].hash == prev
    factory = make_session_factory(eng)
    _write(factory, 2)
    assert _verify(factory) is None
    eng.dispose()


def test_swapped_rows_are_named(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 5)
    _sql(session_factory, "UPDATE audit_records SET seq = 100 WHERE seq = 2")
    _sql(session_factory, "UPDATE audit_records SET seq = 2 WHERE seq = 3")
    _sql(session_factory, "UPDATE audit_records SET seq = 3 WHERE seq = 100")
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 2


def test_recomputed_hashes_are_caught_by_published_root(
    session_factory: sessionmaker[Session],
) -> None:
    """An insider who rewrites a past day *and* re-hashes it still fails the anchored root."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    _write(session_factory, 4, at=yesterday)
    with transaction(session_factory) as session:
        assert len(audit.publish_closed_days(session)) == 1
    with transaction(session_factory) as session:
        rows = session.execute(text("SELECT seq FROM audit_records ORDER BY seq")).scalars().all()
        session.execute(text("DELETE FROM audit_records"))
    _write(session_factory, len(rows) - 1, at=yesterday)  # a shorter, self-consistent rewrite
    broken = _verify(session_factory)
    assert broken is not None and "published root" in broken.reason


@pytest.mark.parametrize(
    ("data", "refused"),
    [
        ({"note": "番号 123456789018"}, True),  # a valid 個人番号
        ({"token_id": "3f2a1b4c-0000-4000-8000-123456789018"}, False),  # inside a UUID
        ({"reference": "123456789012"}, False),  # twelve digits, wrong check digit
    ],
)
def test_personal_numbers_are_refused(
    session_factory: sessionmaker[Session], data: dict[str, str], refused: bool
) -> None:
    def write() -> None:
        with transaction(session_factory) as session:
            audit.record(
                session, actor="a", action="x", object_type="person", object_id="1", data=data
            )

    if refused:
        with pytest.raises(audit.PersonalNumberInAudit):
            write()
    else:
        write()


def test_roots_endpoint_and_inclusion_proof(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _write(session_factory, 7)
    roots = client.get("/api/audit/roots").json()
    assert len(roots) == 1 and roots[0]["record_count"] == 7 and roots[0]["final"] is False
    with transaction(session_factory) as session:
        proof = audit.inclusion_proof(session, 5)
    assert proof["root"] == roots[0]["root"]
    leaf = merkle.leaf_hash(bytes.fromhex(proof["hash"]))
    path = [bytes.fromhex(p) for p in proof["proof"]]
    root = bytes.fromhex(proof["root"])
    assert merkle.verify_inclusion(proof["leaf_index"], proof["tree_size"], leaf, path, root)
    assert not merkle.verify_inclusion(
        proof["leaf_index"], proof["tree_size"], merkle.leaf_hash(b"x"), path, root
    )


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 100])
def test_every_leaf_has_a_valid_proof(size: int) -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
    root = merkle.root_of(leaves)
    for index, leaf in enumerate(leaves):
        proof = merkle.inclusion_proof(index, leaves)
        assert merkle.verify_inclusion(index, size, leaf, proof, root)
        assert not merkle.verify_inclusion((index + 1) % size, size, leaf, proof, root) or size == 1


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TSUNAGU_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "tsunagu", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_cli_verify_exit_codes(database_url: str, session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 3)
    ok = _cli(database_url, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    _sql(session_factory, "UPDATE audit_records SET action = 'forged' WHERE seq = 2")
    bad = _cli(database_url, "audit", "verify")
    assert bad.returncode == 1
    assert "record 2" in bad.stderr and "Traceback" not in bad.stderr


_JSON_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    actor=st.text(),
    action=st.text(),
    object_id=st.text(),
    data=st.dictionaries(st.text(), _JSON_DATA, max_size=4),
    seq=st.integers(min_value=1, max_value=2**62),
    occurred_at=st.datetimes(timezones=st.just(UTC)),
)
def test_a_record_is_hashed_over_exactly_the_canonical_json_verifiers_rebuild(
    actor: str, action: str, object_id: str, data: dict[str, Any], seq: int, occurred_at: datetime
) -> None:
    """The writer puts the hashed text together itself; verifiers (and the offline tool)
    parse the stored row and encode it canonically. Both must give the same bytes."""
    row = {
        "seq": seq, "occurred_at": occurred_at, "actor": actor, "action": action,
        "object_type": "thing\\\"x", "object_id": object_id, "data": audit.canonical_json(data),
    }  # fmt: skip
    assert audit._body_json(row) == audit.canonical_json(audit._record_body(row))
