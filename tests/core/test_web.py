"""The request's DB session: committed once on success, rolled back on error.

``run_and_commit`` lets a hot handler commit in the thread that did the work;
what reaches the database must be the same as with the plain dependency.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.audit import service as audit
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.web import DbSession, run_and_commit


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
