"""PAdES signing of the PDFs the procedure module issues (decision notices, certificates).

Each PDF is signed with the owning organization's seal certificate (電子公印,
held by :class:`tsunagu.exchange.sealing.SealStore`) and time-stamped by the
platform's time-stamping unit (PAdES B-T: ``ETSI.CAdES.detached`` plus a
signature time-stamp), so any PDF reader that trusts the platform root can
validate it, also after the seal certificate expires. The time-stamper calls
the trust module's TSA in process rather than over HTTP.

Documents are drawn with reportlab's built-in Adobe-Japan1 CID fonts
(:data:`BODY_FONT`, :data:`HEADING_FONT`): they need no font files, readers
substitute a local Japanese font.
"""

from __future__ import annotations

import asyncio
import io
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
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle
from sqlalchemy.orm import Session

from tsunagu.core.clock import to_tokyo
from tsunagu.core.config import Settings
from tsunagu.exchange import sealing
from tsunagu.trust import service as trust
from tsunagu.trust import tsa
from tsunagu.trust.pki import AuthorityRole

T = TypeVar("T")
BODY_FONT = "HeiseiMin-W3"
HEADING_FONT = "HeiseiKakuGo-W5"

for _font in (BODY_FONT, HEADING_FONT):
    pdfmetrics.registerFont(UnicodeCIDFont(_font))

BODY = ParagraphStyle("body", fontName=BODY_FONT, fontSize=10.5, leading=16, wordWrap="CJK")
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8.5, leading=12)
TITLE = ParagraphStyle("title", parent=BODY, fontName=HEADING_FONT, fontSize=18, leading=26)


def date_ja(moment: datetime) -> str:
    """``2026年11月26日`` for a moment, in Tokyo."""
    local = to_tokyo(moment)
    return f"{local.year}年{local.month}月{local.day}日"


def label_table(rows: list[tuple[str, str]]) -> Table:
    """Label / value rows, as every issued document lists its facts."""
    table = Table(
        [[Paragraph(escape(k), SMALL), Paragraph(escape(str(v)), BODY)] for k, v in rows],
        colWidths=[48 * mm, 118 * mm],
    )
    table.setStyle(
        TableStyle(
            [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.3, "#999999")]
        )
    )
    return table


def a4_pdf(story: list[Flowable], *, title: str, author: str) -> bytes:
    """The unsigned A4 document of ``story``."""
    out = io.BytesIO()
    SimpleDocTemplate(
        out, pagesize=A4, title=title, author=author, leftMargin=22 * mm, rightMargin=22 * mm
    ).build(story)
    return out.getvalue()


class PlatformTimeStamper(TimeStamper):
    """pyHanko time-stamper answered by the platform TSA inside this process."""

    def __init__(self, session: Session, settings: Settings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        token = trust.timestamp_token(self.session, self.settings, bytes(req.dump()))
        return tsp.TimeStampResp.load(tsa.response(token))


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
    session: Session,
    store: sealing.SealStore,
    organization_id: str,
    pdf: bytes,
    *,
    reason: str = "決定通知 / Notice of decision",
) -> tuple[bytes, str]:
    """``pdf`` signed (PAdES B-T) with the organization's seal; returns it and the seal serial."""
    seal = store.seal_for(session, organization_id)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(
        field_name="OrganizationSeal",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
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


def validate(session: Session, pdf: bytes) -> bool:
    """The PDF carries exactly one signature that is intact, covers the whole file and chains
    to the platform root (what a bank's PDF reader checks); False for anything else."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = trust.trust_store(session).ders[AuthorityRole.ROOT]
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(root)])
    try:
        signatures = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
        if len(signatures) != 1:
            return False
        status = run_sync(async_validate_pdf_signature(signatures[0], context))
    except Exception:  # any malformed upload is simply "does not validate"
        return False
    covers = status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    return bool(status.bottom_line and covers)
