"""What every module's HTTP layer needs from the core: the request's DB session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool


def _commit(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


def _roll_back(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def db_session(request: Request) -> AsyncIterator[Session]:
    """A session per request, committed when the handler returns without error.

    Async, so making the session (no I/O) and rolling back cost no hand-off to the
    thread pool. The commit goes to the pool: it may flush, and a flush can wait for
    a lock that another request holds until its own commit, which must not find the
    loop blocked.
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
    except BaseException:
        _roll_back(session)  # releases locks, never waits for one (and runs even when cancelled)
        raise
    await run_in_threadpool(_commit, session)


# scope="function": commit before the response is sent, so a client never sees
# success for a change that then failed to commit.
DbSession = Annotated[Session, Depends(db_session, scope="function")]
