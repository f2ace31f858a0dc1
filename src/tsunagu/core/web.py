"""What every module's HTTP layer needs from the core: the request's DB session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session


def db_session(request: Request) -> Iterator[Session]:
    """A session per request, committed when the handler returns without error."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is sent, so a client never sees
# success for a change that then failed to commit.
DbSession = Annotated[Session, Depends(db_session, scope="function")]
