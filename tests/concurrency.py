"""Two transactions that meet on one lock: how the second one ends (PostgreSQL only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker


def _lock_waiters(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(waiting)


def race(
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
        while not _lock_waiters(engine) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _lock_waiters(engine), "the second writer never waited for the first"
        first.commit()
    thread.join(timeout=20)
    assert not thread.is_alive()
    return outcome["error"]
