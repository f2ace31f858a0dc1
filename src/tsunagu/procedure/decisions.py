"""Decision notices (決定通知書): a PAdES-signed, time-stamped PDF plus a sealed JSON copy.

Every decision, automatic or by a reviewer, gets a notice, issued right after
the decision commits by the outbox handler of :mod:`tsunagu.procedure.notices`
(so the signing stays out of the deciding transaction), signed with the owning
organization's seal
certificate (電子公印, held by :class:`tsunagu.exchange.sealing.SealStore`) and
time-stamped by the platform's time-stamping unit, so any PDF reader that
trusts the platform root can validate it, also after the seal certificate
expires.

The PDF is drawn with reportlab's built-in Japanese CID fonts and signed
with pyHanko (PAdES B-T); both are shared with certificates, see
:mod:`tsunagu.procedure.pades`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer
from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.clock import utcnow
from tsunagu.core.errors import NotFoundError
from tsunagu.core.outbox import service as outbox
from tsunagu.exchange import sealing
from tsunagu.identity import service as identity
from tsunagu.procedure import certificates
from tsunagu.procedure.definitions import ProcedureDefinition
from tsunagu.procedure.models import Application, Decision
from tsunagu.procedure.pades import (
    BODY,
    SMALL,
    TITLE,
    a4_pdf,
    date_ja,
    label_table,
    run_sync,
    sign_pdf,
)

__all__ = ["content", "envelope", "issue", "of_application", "render_pdf", "run_sync", "sign_pdf"]

DOCUMENT_TYPE = "tsunagu.procedure.decision/1"
# Published once a notice (and any certificate) is issued: the inbox's e-mail hint follows it.
NOTICE_ISSUED_TOPIC = "procedure.notice_issued"
OUTCOMES = {
    "approved": ("承認", "Approved"),
    "rejected": ("却下", "Rejected"),
}


def content(
    session: Session, app: Application, definition: ProcedureDefinition, document_number: str
) -> dict[str, Any]:
    """The machine-readable decision: what the PDF says, as data."""
    organization = identity.get_organization(session, str(app.owner_id))
    decided_at = app.decided_at or utcnow()
    return {
        "type": DOCUMENT_TYPE,
        "document_number": document_number,
        "application_id": app.id,
        "procedure": {
            "id": definition.id,
            "name": {"ja": definition.name.ja, "en": definition.name.en},
            "legal_basis": {"ja": definition.legal_basis.ja, "en": definition.legal_basis.en},
        },
        "organization": {
            "id": organization.id,
            "name": organization.name_ja,
            "lgcode": organization.lgcode,
            "corporate_number": organization.corporate_number,
        },
        "applicant": app.applicant,
        "subject": {"kind": app.subject_kind, "id": app.subject_id},
        "outcome": app.status,
        "automatic": app.automatic,
        "reason": app.decision_reason or "",
        "submitted_at": app.submitted_at.isoformat() if app.submitted_at else None,
        "decided_at": decided_at.isoformat(),
    }


def render_pdf(data: dict[str, Any]) -> bytes:
    """The unsigned notice (A4, Japanese with English subtitles)."""
    body, small, title = BODY, SMALL, TITLE
    decided = datetime.fromisoformat(data["decided_at"])
    outcome_ja, outcome_en = OUTCOMES.get(data["outcome"], (data["outcome"], data["outcome"]))
    name = data["procedure"]["name"]
    by = "自動審査 / automatic" if data["automatic"] else "審査担当職員 / reviewer"
    rows = [
        ("文書番号 / Document No.", data["document_number"]),
        ("申請番号 / Application No.", data["application_id"]),
        ("手続 / Procedure", f"{name['ja']} / {name['en']}"),
        ("根拠法令 / Legal basis", data["procedure"]["legal_basis"]["ja"]),
        ("決定日 / Date of decision", f"{date_ja(decided)} / {decided.date().isoformat()}"),
        ("決定 / Decision", f"{outcome_ja} / {outcome_en}"),
        ("決定の方法 / Decided by", by),
    ]
    table = label_table(rows)
    reason = escape(data["reason"]).replace("\n", "<br/>")
    story = [
        Paragraph("決定通知書", title),
        Paragraph("Notice of decision", body),
        Spacer(1, 6 * mm),
        Paragraph(escape(data["organization"]["name"]), body),
        Spacer(1, 4 * mm),
        table,
        Spacer(1, 6 * mm),
        Paragraph("理由 / Reasons", body),
        Paragraph(reason or "—", body),
        Spacer(1, 10 * mm),
        Paragraph(
            "この通知書には発行機関の電子公印による電子署名とタイムスタンプが付されています。"
            "PDF リーダーの署名パネルで検証できます。 This notice carries the electronic seal "
            "of the issuing organization and a time-stamp; validate it in a PDF reader.",
            small,
        ),
    ]
    return a4_pdf(
        story,
        title=f"決定通知書 {data['document_number']}",
        author=data["organization"]["name"],
    )


def issue(
    session: Session,
    store: sealing.SealStore,
    app: Application,
    definition: ProcedureDefinition,
) -> Decision:
    """Issue the notice of ``app``'s decision (call once, right after deciding), and the
    certificate when an approved procedure declares one; then tell the outbox."""
    number = str(uuid.uuid4())
    data = content(session, app, definition, number)
    organization_id = str(app.owner_id)
    pdf, serial = sign_pdf(session, store, organization_id, render_pdf(data))
    row = Decision(
        id=number,
        application_id=app.id,
        organization_id=organization_id,
        outcome=app.status,
        document=json.dumps(store.seal(session, organization_id, data), ensure_ascii=False),
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        seal_serial=serial,
        issued_at=utcnow(),
    )
    session.add(row)
    session.flush()
    certificate = certificates.issue(session, store, app, definition)
    outbox.publish(
        session,
        NOTICE_ISSUED_TOPIC,
        {
            "application_id": app.id,
            "decision_id": row.id,
            "certificate": certificate.number if certificate is not None else None,
        },
    )
    return row


def of_application(session: Session, application_id: str) -> Decision:
    row = session.execute(
        select(Decision).where(Decision.application_id == application_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(
            "decision_not_found",
            "決定通知書がありません（未決定の申請です）。",
            "There is no decision notice (the application is not decided).",
        )
    return row


def envelope(row: Decision) -> dict[str, Any]:
    """The sealed JSON copy (``payload`` + detached CMS, see :mod:`tsunagu.trust.protocol`)."""
    document: dict[str, Any] = json.loads(row.document)
    return document
