"""What every module's HTTP layer needs from the core: the request's DB session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar
from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tsunagu.core.db import DriverQuery, begin_with_lock_timeout

# Commits have threads of their own: a commit waiting behind handlers in the request pool
# could be the very transaction whose locks those handlers wait for.
COMMIT_THREADS = 32
# Work on the event loop gives up a lock wait after this long and is done again in a thread.
ON_LOOP_LOCK_TIMEOUT = "50ms"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for lock_timeout
# set_config(…, true) is SET LOCAL with a bind parameter: it ends with the transaction.
_SET_LOCK_TIMEOUT = DriverQuery(text("SELECT set_config('lock_timeout', :timeout, true)"))
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
    """Run a hot handler's database work and its commit without a second hand-off.

    A synchronous handler costs one hand-off to the request pool and its commit
    another to the commit pool; under load each hand-off also makes the loop and
    the pool fight over the GIL, which cost a fetch more CPU than its own work.
    On PostgreSQL the work therefore runs on the event loop itself, with its
    lock waits bounded (``ON_LOOP_LOCK_TIMEOUT``): the loop must never wait for
    a lock held by a transaction of this process whose commit needs the loop.
    Work that meets such a lock is rolled back and done again in a thread, where
    waiting is harmless. Elsewhere (SQLite: one writer, whose lock the loop
    could wait for) the work and its commit share one thread hand-off; that is
    safe from the deadlock the commit pool exists for, as the transaction's
    locks are released before the thread is.

    The work must let database errors propagate (a lock timeout it swallowed
    would leave a failed transaction) and have no effects outside the session.
    Errors propagate to ``db_session``, which rolls back as for any handler.
    """
    if _on_loop_capable(session):
        try:
            return _work_then_commit(session, work, lock_timeout=ON_LOOP_LOCK_TIMEOUT)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            session.rollback()
    return await to_thread.run_sync(_work_then_commit, session, work)


def _on_loop_capable(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _work_then_commit(session: Session, work: Callable[[], T], *, lock_timeout: str = "") -> T:
    if lock_timeout and not _begun_with_lock_timeout(session):
        _SET_LOCK_TIMEOUT.rows(session.connection(), {"timeout": lock_timeout})
    result = work()
    session.commit()
    return result


# scope="function": commit before the response is sent, so a client never sees
# success for a change that then failed to commit.
DbSession = Annotated[Session, Depends(db_session, scope="function")]

# The transaction ``loop_session`` opened with the lock timeout (a later one has none).
_BEGUN_WITH_LOCK_TIMEOUT = "tsunagu.web.begun_with_lock_timeout"


def _begun_with_lock_timeout(session: Session) -> bool:
    begun = session.info.get(_BEGUN_WITH_LOCK_TIMEOUT)
    return begun is not None and begun is session.get_transaction()


async def loop_session(session: DbSession) -> Session:
    """The request's session, for a handler whose work goes to ``run_and_commit``.

    Declared before the handler's actor, so it runs before the login lookup: on
    PostgreSQL the transaction then opens with the on-loop lock timeout in the
    round trip of its BEGIN, and ``run_and_commit`` needs none of its own.
    """
    if _on_loop_capable(session) and begin_with_lock_timeout(
        session.connection(), ON_LOOP_LOCK_TIMEOUT
    ):
        session.info[_BEGUN_WITH_LOCK_TIMEOUT] = session.get_transaction()
    return session


LoopSession = Annotated[Session, Depends(loop_session)]
