"""Handlers the outbox crash test loads into a separate worker process."""

from __future__ import annotations

import os
import time

from sqlalchemy import text
from sqlalchemy.orm import Session

from tsunagu.core.outbox.service import Event, handler


@handler("test.crash", name="tests.crash_effect")
def write_effect(session: Session, event: Event) -> None:
    """A visible side effect per event; deliberately slow so a kill lands mid-batch."""
    session.execute(
        text("INSERT INTO crash_effects (event_id, worker_pid) VALUES (:e, :p)"),
        {"e": event.id, "p": os.getpid()},
    )
    time.sleep(0.01)
