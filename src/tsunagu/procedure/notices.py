"""Decision notices are issued after the decision commits, by an outbox handler.

Drawing and PAdES-signing the notice costs tens of milliseconds (most of a
submission's time when rules decide at once); holding the submission's
transaction — and on SQLite the database's only write lock — that long would
cap throughput. The decision itself (status, decided_at, register changes,
its audit record) commits with the submission; the ``procedure.decided``
event it publishes is handled here, in the handler's own transaction, which
issues the notice exactly once and audits it as ``procedure.notice_issued``.
Until then the notice endpoints answer :class:`NoticeNotReady`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.errors import ConflictError, NotFoundError
from tsunagu.core.outbox import service as outbox
from tsunagu.core.outbox.service import Event
from tsunagu.exchange import sealing
from tsunagu.procedure import decisions
from tsunagu.procedure.definitions import get_procedure
from tsunagu.procedure.models import Application, Decision

DECIDED_TOPIC = "procedure.decided"
ISSUER = "system:procedure-notices"
RETRY_AFTER_SECONDS = 2


class NoticeNotReady(ConflictError):
    """The application is decided but its notice is still being issued (ask again shortly)."""

    def __init__(self) -> None:
        super().__init__(
            "notice_not_ready",
            "決定通知書を作成中です。しばらくしてから再度お試しください。",
            "The decision notice is being issued; please try again in a moment.",
        )
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def announce(session: Session, app: Application) -> None:
    """Queue the notice of ``app``'s decision in the deciding transaction."""
    outbox.publish(session, DECIDED_TOPIC, {"application_id": app.id})


def notice_of(session: Session, app: Application) -> Decision:
    """The issued notice; :class:`NoticeNotReady` while a decided application awaits it."""
    try:
        return decisions.of_application(session, app.id)
    except NotFoundError:
        if app.decided_at is not None:
            raise NoticeNotReady() from None
        raise


@outbox.handler(DECIDED_TOPIC, name="procedure.notices.issue")
def issue(session: Session, event: Event) -> None:
    """Issue the notice once (a notice already there means an earlier run did it)."""
    app = session.get(Application, str(event.payload["application_id"]))
    if app is None or app.decided_at is None:
        raise NotFoundError(
            "application_not_found",
            "決定済みの申請が見つかりません。",
            "No decided application with that id.",
        )
    issued = session.execute(
        select(Decision.id).where(Decision.application_id == app.id)
    ).scalar_one_or_none()
    if issued is not None:
        return
    row = decisions.issue(session, sealing.default_store(), app, get_procedure(app.procedure_id))
    audit.record(
        session,
        actor=ISSUER,
        action="procedure.notice_issued",
        object_type="application",
        object_id=app.id,
        data={
            "procedure_id": app.procedure_id,
            "status": app.status,
            "decision": row.id,
            "pdf_sha256": row.pdf_sha256,
        },
    )
