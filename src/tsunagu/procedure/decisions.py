"""Decision notices (決定通知書): a PAdES-signed, time-stamped PDF plus a sealed JSON copy.

Every decision, automatic or by a reviewer, is issued in the same transaction
as the decision itself, signed with the owning organization's seal
certificate (電子公印, held by :class:`tsunagu.exchange.sealing.SealStore`) and
time-stamped by the platform's time-stamping unit, so any PDF reader that
trusts the platform root can validate it, also after the seal certificate
expires.

The PDF is drawn with reportlab using its built-in Adobe-Japan1 CID fonts
(``HeiseiMin-W3`` for the text, ``HeiseiKakuGo-W5`` for headings): they need
no font files, readers substitute a local Japanese font. It is signed with
pyHanko (PAdES B-T: ``ETSI.CAdES.detached`` plus a signature time-stamp). The
time-stamper calls the trust module's TSA in process rather than over HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar
from xml.sax.saxutils import escape

from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.clock import to_tokyo, utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import NotFoundError
from tsunagu.exchange import sealing
from tsunagu.identity import service as identity
from tsunagu.procedure.definitions import ProcedureDefinition
from tsunagu.procedure.models import Application, Decision
from tsunagu.trust import service as trust
from tsunagu.trust import tsa
from tsunagu.trust.pki import AuthorityRole

DOCUMENT_TYPE = "tsunagu.procedure.decision/1"
T = TypeVar("T")
BODY_FONT = "HeiseiMin-W3"
HEADING_FONT = "HeiseiKakuGo-W5"
OUTCOMES = {
    "approved": ("承認", "Approved"),
    "rejected": ("却下", "Rejected"),
}

for _font in (BODY_FONT, HEADING_FONT):
    pdfmetrics.registerFont(UnicodeCIDFont(_font))


class PlatformTimeStamper(TimeStamper):
    """pyHanko time-stamper answered by the platform TSA inside this process."""

    def __init__(self, session: Session, settings: Settings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        token = trust.timestamp_token(self.session, self.settings, bytes(req.dump()))
        return tsp.TimeStampResp.load(tsa.response(token))


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


def _date_ja(moment: datetime) -> str:
    local = to_tokyo(moment)
    return f"{local.year}年{local.month}月{local.day}日"


def render_pdf(data: dict[str, Any]) -> bytes:
    """The unsigned notice (A4, Japanese with English subtitles)."""
    body = ParagraphStyle("body", fontName=BODY_FONT, fontSize=10.5, leading=16, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=12)
    title = ParagraphStyle("title", parent=body, fontName=HEADING_FONT, fontSize=18, leading=26)
    decided = datetime.fromisoformat(data["decided_at"])
    outcome_ja, outcome_en = OUTCOMES.get(data["outcome"], (data["outcome"], data["outcome"]))
    name = data["procedure"]["name"]
    by = "自動審査 / automatic" if data["automatic"] else "審査担当職員 / reviewer"
    rows = [
        ("文書番号 / Document No.", data["document_number"]),
        ("申請番号 / Application No.", data["application_id"]),
        ("手続 / Procedure", f"{name['ja']} / {name['en']}"),
        ("根拠法令 / Legal basis", data["procedure"]["legal_basis"]["ja"]),
        ("決定日 / Date of decision", f"{_date_ja(decided)} / {decided.date().isoformat()}"),
        ("決定 / Decision", f"{outcome_ja} / {outcome_en}"),
        ("決定の方法 / Decided by", by),
    ]
    table = Table(
        [[Paragraph(escape(k), small), Paragraph(escape(str(v)), body)] for k, v in rows],
        colWidths=[48 * mm, 118 * mm],
    )
    table.setStyle(
        TableStyle(
            [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.3, "#999999")]
        )
    )
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
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"決定通知書 {data['document_number']}",
        author=data["organization"]["name"],
        leftMargin=22 * mm,
        rightMargin=22 * mm,
    ).build(story)
    return out.getvalue()


def _signer(session: Session, seal: sealing.Seal) -> signers.SimpleSigner:
    key_der = seal.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    root = trust.trust_store(session).ders[AuthorityRole.ROOT]
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(seal.cert_der),
        signing_key=keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(der) for der in (*seal.chain, root)]
        ),
    )


def sign_pdf(
    session: Session, store: sealing.SealStore, organization_id: str, pdf: bytes
) -> tuple[bytes, str]:
    """``pdf`` signed (PAdES B-T) with the organization's seal; returns it and the seal serial."""
    seal = store.seal_for(session, organization_id)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(
        field_name="OrganizationSeal",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="決定通知 / Notice of decision",
    )
    out = io.BytesIO()
    signer = signers.PdfSigner(
        meta,
        signer=_signer(session, seal),
        timestamper=PlatformTimeStamper(session, store.settings),
    )
    run_sync(signer.async_sign_pdf(writer, output=out))
    return out.getvalue(), seal.serial


def run_sync(work: Coroutine[Any, Any, T]) -> T:
    """Run one of pyHanko's coroutines to the end from synchronous code.

    Services are synchronous, but the calling thread may already run an event
    loop (async code, a browser-test harness), where pyHanko's own sync
    wrappers fail; the coroutine then gets a loop of its own in a helper
    thread while this thread waits.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def issue(
    session: Session,
    store: sealing.SealStore,
    app: Application,
    definition: ProcedureDefinition,
) -> Decision:
    """Issue the notice of ``app``'s decision (call once, right after deciding)."""
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
