"""``pipelined``: statements sent together land together, and a failure still surfaces."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.clock import utcnow
from tsunagu.core.db import pipelined, transaction
from tsunagu.exchange.models import ACCESS_LOG

_INSERT = insert(ACCESS_LOG).inline()


def _row(seq: int) -> dict[str, object]:
    return {"audit_seq": seq, "kind": "fetch", "occurred_at": utcnow(), "fields": "[]",
            "outcome": "refused", "requester_verified": False}  # fmt: skip


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(ACCESS_LOG)).scalar_one())


def test_statements_sent_together_are_all_written(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session, pipelined(session):
        session.connection().execute(_INSERT, _row(1))
        session.connection().execute(_INSERT, [_row(2), _row(3)])
    assert _count(session_factory) == 3


def test_a_failing_statement_in_a_pipeline_raises_and_nothing_is_kept(
    session_factory: sessionmaker[Session],
) -> None:
    with (
        pytest.raises(IntegrityError),
        transaction(session_factory) as session,
        pipelined(session),
    ):
        session.connection().execute(_INSERT, _row(1))
        session.connection().execute(_INSERT, _row(1))  # audit_seq is unique
    assert _count(session_factory) == 0
