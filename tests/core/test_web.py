"""The request's DB session: committed once on success, rolled back on error.

``run_and_commit`` lets a hot handler commit where it did the work (on
PostgreSQL the event loop itself, with lock waits bounded; elsewhere one
thread); what reaches the database must be the same as with the plain
dependency, and a lock held elsewhere must never stall the loop.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.audit import service as audit
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.db import DriverQuery
from tsunagu.core.web import ON_LOOP_LOCK_TIMEOUT, DbSession, LoopSession, run_and_commit

_ADVISORY_LOCK = DriverQuery(text("SELECT pg_advisory_xact_lock(:key)"))


def _app(factory: sessionmaker[Session]) -> FastAPI:
    app = FastAPI()
    app.state.session_factory = factory

    def write(session: Session, action: str) -> str:
        return audit.record(session, actor="test", action=action, object_type="t", object_id="1")

    @app.post("/in-thread/{action}")
    async def in_thread(action: str, session: DbSession) -> dict[str, str]:
        return {"hash": await run_and_commit(session, lambda: write(session, action))}

    @app.post("/in-thread-failing")
    async def in_thread_failing(session: DbSession) -> dict[str, str]:
        def fail() -> str:
            write(session, "test.lost")
            raise RuntimeError("the work failed after writing")

        return {"hash": await run_and_commit(session, fail)}

    async def where(lock: int, session: Session) -> dict[str, Any]:
        loop_thread = threading.get_ident()

        def work() -> tuple[int, str | None]:
            write(session, "test.where")
            if lock:  # on the driver, as the audit chain's lock is taken
                _ADVISORY_LOCK.rows(session.connection(), {"key": lock})
            timeout = (
                session.execute(text("SHOW lock_timeout")).scalar_one()
                if session.get_bind().dialect.name == "postgresql"
                else None
            )
            return threading.get_ident(), timeout

        thread, timeout = await run_and_commit(session, work)
        return {"on_loop": thread == loop_thread, "lock_timeout": timeout}

    @app.post("/where/{lock}")
    async def where_plain(lock: int, session: DbSession) -> dict[str, Any]:
        return await where(lock, session)

    @app.post("/loop/where/{lock}")
    async def where_loop(lock: int, session: LoopSession) -> dict[str, Any]:
        return await where(lock, session)

    @app.post("/after-thread")
    async def after_thread(session: DbSession) -> dict[str, str]:
        await run_and_commit(session, lambda: write(session, "test.first"))
        return {"hash": write(session, "test.second")}

    return app


def _actions(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return list(session.execute(select(AuditRecord.action).order_by(AuditRecord.seq)).scalars())


def test_work_and_commit_in_one_thread_persist_once(
    session_factory: sessionmaker[Session],
) -> None:
    with TestClient(_app(session_factory)) as client:
        assert client.post("/in-thread/test.done").status_code == 200
    assert _actions(session_factory) == ["test.done"]
    with session_factory() as session:
        assert audit.verify_chain(session) is None


def test_failing_work_leaves_nothing(session_factory: sessionmaker[Session]) -> None:
    with TestClient(_app(session_factory), raise_server_exceptions=False) as client:
        assert client.post("/in-thread-failing").status_code == 500
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(AuditRecord)).scalar_one() == 0


def test_work_after_the_thread_commit_is_committed_by_the_dependency(
    session_factory: sessionmaker[Session],
) -> None:
    with TestClient(_app(session_factory)) as client:
        assert client.post("/after-thread").status_code == 200
    assert _actions(session_factory) == ["test.first", "test.second"]


@pytest.mark.parametrize("prefix", ["", "/loop"])
def test_work_runs_on_the_loop_only_on_postgresql(
    session_factory: sessionmaker[Session], engine: Engine, prefix: str
) -> None:
    """With its lock waits bounded, whether the session came as LoopSession or DbSession."""
    with TestClient(_app(session_factory)) as client:
        answer = client.post(f"{prefix}/where/0")
    on_postgresql = engine.dialect.name == "postgresql"
    assert answer.json() == {
        "on_loop": on_postgresql,
        "lock_timeout": ON_LOOP_LOCK_TIMEOUT if on_postgresql else None,
    }
    assert _actions(session_factory) == ["test.where"]


@pytest.mark.parametrize("prefix", ["", "/loop"])
def test_a_lock_held_elsewhere_sends_the_work_to_a_thread_that_waits_for_it(
    session_factory: sessionmaker[Session], engine: Engine, prefix: str
) -> None:
    """The loop gives up after the lock timeout; the thread waits, the work counts once."""
    if engine.dialect.name != "postgresql":
        return  # SQLite: the work never runs on the loop (the test above)
    key = 7_100_042
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        release = threading.Timer(
            0.5, lambda: holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        )
        release.start()
        started = time.monotonic()
        with TestClient(_app(session_factory)) as client:
            answer = client.post(f"{prefix}/where/{key}")
        release.join()
        holder.commit()
    # the thread's own transaction waits as long as it takes
    assert answer.json() == {"on_loop": False, "lock_timeout": "0"}
    assert time.monotonic() - started >= 0.5
    assert _actions(session_factory) == ["test.where"]
    with session_factory() as session:
        assert audit.verify_chain(session) is None
