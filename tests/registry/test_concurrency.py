"""Concurrent writes of one record: the loser gets a clear conflict (409), never a 500.

Only PostgreSQL runs writers at the same time (SQLite has one writer at a time).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from tests.registry.conftest import resident
from tsunagu.core.errors import ConflictError
from tsunagu.identity import service as identity
from tsunagu.registry import service

DAY = date(2024, 4, 1)
MOVE = date(2025, 6, 1)


@pytest.fixture
def pg_factory(session_factory: sessionmaker[Session], engine: Engine) -> sessionmaker[Session]:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no concurrent write to lose")
    return session_factory


def _keeper(factory: sessionmaker[Session]) -> str:
    with factory() as session, session.begin():
        return identity.ensure_local_government(session, "131016", actor="test").id


def _blocked(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(waiting)


def _race(
    factory: sessionmaker[Session], engine: Engine, write: Callable[[Session], object]
) -> Exception | None:
    """``write`` in a first transaction, then in a second one that has to wait for the
    first's locks; the first commits. What the second raised."""
    outcome: dict[str, Exception | None] = {}

    def second() -> None:
        with factory() as session:
            try:
                write(session)
                session.commit()
                outcome["error"] = None
            except Exception as exc:
                session.rollback()
                outcome["error"] = exc

    with factory() as first:
        write(first)
        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 10
        while not _blocked(engine) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _blocked(engine), "the second writer never waited for the first"
        first.commit()
    thread.join(timeout=20)
    assert not thread.is_alive()
    return outcome["error"]


def test_second_concurrent_change_is_a_conflict(
    pg_factory: sessionmaker[Session], engine: Engine
) -> None:
    keeper, person = _keeper(pg_factory), str(uuid.uuid4())
    with pg_factory() as session, session.begin():
        service.assert_fact(
            session, "juki", person, resident(), keeper_id=keeper, actor="test", valid_from=DAY
        )

    def move(session: Session) -> object:
        town = {"town": f"霞が関{uuid.uuid4().hex[:4]}"}
        return service.change(
            session, "juki", person, {"address": town}, actor="test", valid_from=MOVE
        )

    error = _race(pg_factory, engine, move)
    assert isinstance(error, ConflictError)
    assert error.status_code == 409 and error.code == "record_changed_concurrently"
    assert "同時に" in error.message_ja and "at the same time" in error.message_en
    with pg_factory() as session:
        versions = service.as_of(session, "juki", person, valid_on=MOVE)
    assert len(versions) == 1  # the first change, alone


def test_second_concurrent_first_record_is_a_conflict(
    pg_factory: sessionmaker[Session], engine: Engine
) -> None:
    keeper, person = _keeper(pg_factory), str(uuid.uuid4())

    def enrol(session: Session) -> object:
        return service.assert_fact(
            session, "juki", person, resident(), keeper_id=keeper, actor="test", valid_from=DAY
        )

    error = _race(pg_factory, engine, enrol)
    assert isinstance(error, ConflictError)
    assert error.code == "record_changed_concurrently"
