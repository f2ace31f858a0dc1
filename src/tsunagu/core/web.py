"""What every module's HTTP layer needs from the core: the request's DB session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar
from fastapi import Depends, Request
from sqlalchemy.orm import Session

# Commits have threads of their own: a commit waiting behind handlers in the request pool
# could be the very transaction whose locks those handlers wait for.
COMMIT_THREADS = 32
_COMMIT_LIMITER: RunVar[CapacityLimiter] = RunVar("tsunagu_commit_limiter")

T = TypeVar("T")


def _commit_limiter() -> CapacityLimiter:
    """One limiter per event loop (as anyio keeps its default one)."""
    try:
        return _COMMIT_LIMITER.get()
    except LookupError:
        limiter = CapacityLimiter(COMMIT_THREADS)
        _COMMIT_LIMITER.set(limiter)
        return limiter


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

    Async, so making the session (no I/O) and rolling back cost no hand-off to a
    thread. The commit goes to a thread: it may flush, and a flush can wait for a
    lock that another request holds until its own commit, which must not find the
    loop blocked.
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
    except BaseException:
        _roll_back(session)  # releases locks, never waits for one (and runs even when cancelled)
        raise
    if session.in_transaction():
        await to_thread.run_sync(_commit, session, limiter=_commit_limiter())
    else:  # the handler committed its work itself (run_and_commit)
        session.close()


async def run_and_commit(session: Session, work: Callable[[], T]) -> T:
    """Run a handler's database work and the commit in one thread hand-off.

    For hot endpoints: a synchronous handler costs one hand-off to the request
    pool and its commit another to the commit pool, and each is a measurable part
    of a short request. Committing in the same thread is safe from the deadlock
    the commit pool exists for: the transaction's locks are released before the
    thread is, so the commit never waits behind handlers that wait for them.
    Errors propagate to ``db_session``, which rolls back as for any handler.
    """

    def work_then_commit() -> T:
        result = work()
        session.commit()
        return result

    return await to_thread.run_sync(work_then_commit)


# scope="function": commit before the response is sent, so a client never sees
# success for a change that then failed to commit.
DbSession = Annotated[Session, Depends(db_session, scope="function")]
