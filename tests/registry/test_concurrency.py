"""Concurrent writes of one record: the loser gets a clear conflict (409), never a 500.

Only PostgreSQL runs writers at the same time (SQLite has one writer at a time).
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.concurrency import race
from tests.registry.conftest import resident
from tsunagu.core.errors import ConflictError
from tsunagu.identity import service as identity
from tsunagu.registry import service

DAY = date(2024, 4, 1)
MOVE = date(2025, 6, 1)
LATER = date(2025, 7, 1)


@pytest.fixture
def pg_factory(session_factory: sessionmaker[Session], engine: Engine) -> sessionmaker[Session]:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no concurrent write to lose")
    return session_factory


def _keeper(factory: sessionmaker[Session]) -> str:
    with factory() as session, session.begin():
        return identity.ensure_local_government(session, "131016", actor="test").id


@pytest.mark.parametrize("read_first", [False, True], ids=["change", "read-then-change"])
def test_second_concurrent_change_is_a_conflict(
    pg_factory: sessionmaker[Session], engine: Engine, read_first: bool
) -> None:
    """Also when the transaction read the record before changing it, as a submission reads its
    evidence first (that read is kept for the transaction; the re-check reads afresh)."""
    keeper, person = _keeper(pg_factory), str(uuid.uuid4())
    with pg_factory() as session, session.begin():
        service.assert_fact(
            session, "juki", person, resident(), keeper_id=keeper, actor="test", valid_from=DAY
        )

    def move(session: Session) -> object:
        if read_first:
            assert service.version_at(session, "juki", person, MOVE) is not None
        town = {"town": f"霞が関{uuid.uuid4().hex[:4]}"}
        return service.change(
            session, "juki", person, {"address": town}, actor="test", valid_from=MOVE
        )

    error = race(pg_factory, engine, move)
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

    error = race(pg_factory, engine, enrol)
    assert isinstance(error, ConflictError)
    assert error.code == "record_changed_concurrently"


def test_an_enrolment_that_waited_for_a_change_of_the_record_is_a_conflict(
    pg_factory: sessionmaker[Session], engine: Engine
) -> None:
    """``change`` with a whole ``record`` (a first enrolment) whose locked read waited for a
    concurrent change and then found nothing current: the new version's INSERT (a new
    snapshot) sees the version that change made and writes nothing."""
    keeper, person = _keeper(pg_factory), str(uuid.uuid4())
    with pg_factory() as session, session.begin():
        service.assert_fact(
            session, "juki", person, resident(), keeper_id=keeper, actor="test", valid_from=DAY
        )
    writes: list[str] = []

    def change_then_enrol(session: Session) -> object:
        writes.append("change" if not writes else "enrolment")
        if writes[-1] == "change":
            town = {"town": "霞が関"}
            return service.change(
                session, "juki", person, {"address": town}, actor="test", valid_from=MOVE
            )
        return service.change(  # a later start than the change's: no unique-index clash
            session, "juki", person, {}, actor="test", valid_from=LATER, record=resident(),
            keeper_id=keeper,
        )  # fmt: skip

    error = race(pg_factory, engine, change_then_enrol)
    assert writes == ["change", "enrolment"]
    assert isinstance(error, ConflictError) and error.code == "record_changed_concurrently"
    with pg_factory() as session:
        (version,) = service.as_of(session, "juki", person, valid_on=LATER)
    assert version.data["address"]["town"] == "霞が関" and version.valid_from == MOVE
