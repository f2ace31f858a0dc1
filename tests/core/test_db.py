"""``pipelined``: statements sent together land together, and a failure still surfaces."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.clock import utcnow
from tsunagu.core.db import pipelined, rows_opening_transaction, transaction
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


def test_rows_opening_transaction_read_as_sqlalchemy_does_inside_the_transaction(
    session_factory: sessionmaker[Session],
) -> None:
    statement = (
        select(ACCESS_LOG.c.audit_seq, ACCESS_LOG.c.occurred_at.label("at"))
        .where(ACCESS_LOG.c.outcome == bindparam("outcome"))
        .order_by(ACCESS_LOG.c.audit_seq)
    )
    with transaction(session_factory) as session:
        session.connection().execute(_INSERT, [_row(1), _row(2)])
    session = session_factory()
    try:
        rows = rows_opening_transaction(session, statement, {"outcome": "refused"})
        assert [(r.audit_seq, r.at) for r in rows] == [
            tuple(r) for r in session.execute(statement, {"outcome": "refused"})
        ]
        session.connection().execute(_INSERT, _row(3))  # same transaction as the read
        again = rows_opening_transaction(session, statement, {"outcome": "refused"})
        assert [r.audit_seq for r in again] == [1, 2, 3]
        session.rollback()
    finally:
        session.close()
    assert _count(session_factory) == 2
