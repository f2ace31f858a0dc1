"""Certificates (住民票の写し, 課税証明書 …): signed PDFs a bank or employer can verify.

When a procedure whose definition declares a ``certificate`` is approved,
:func:`issue` draws the certificate from the evidence fetched through the
exchange at submission (only the fields the evidence type projects; never
本籍, the resident code or the 個人番号) and, for a household copy, from the
same register projected the same way. It is signed with the issuing
municipality's seal and time-stamped (PAdES B-T, :mod:`tsunagu.procedure.pades`).

Each certificate carries a document number: 16 random Crockford base-32
symbols (80 bits, not guessable) and a check symbol (ISO 7064 mod 37), so a
mistyped number is told apart from an unknown one. Anyone may verify a
number (:func:`verify`): without the PDF only the issuer, kind, dates and
status are shown, never the personal content; with the PDF its SHA-256 is
compared with the issued one and its signature validated. Officials of the
issuing organization may revoke a certificate (audited).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer
from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import to_tokyo, utcnow
from tsunagu.core.errors import NotFoundError, PermissionDenied, ValidationError
from tsunagu.exchange import sealing
from tsunagu.exchange.definitions import evidence_types
from tsunagu.identity import service as identity
from tsunagu.identity.roles import Actor, ActorKind, Permission
from tsunagu.procedure import pades
from tsunagu.procedure.definitions import CertificateSpec, ProcedureDefinition, procedures
from tsunagu.procedure.models import Application, ApplicationEvidence, Certificate
from tsunagu.registry import service as registry
from tsunagu.registry.definitions import get_registry

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32 (no I, L, O, U)
CHECK_ALPHABET = ALPHABET + "*~$=U"  # the 37 check symbols
BODY_SYMBOLS = 16
# Read leniently, as people type numbers: lower case, O for 0, I/L for 1, spaces and dashes.
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})
REVOKE_REASONS = {
    "error": ("記載事項の誤り", "error in the content"),
    "misissued": ("誤交付", "issued to the wrong person"),
    "request": ("請求者の申出", "at the requester's request"),
}
ISSUER = "system:procedure-certificates"
YEN_FIELDS = ("income.", "deductions.", "taxable_income", "tax.")


# --- document numbers ------------------------------------------------------------------------


def _check_symbol(body: str) -> str:
    remainder = 0
    for symbol in body:
        remainder = (remainder * 32 + ALPHABET.index(symbol)) % 37
    return CHECK_ALPHABET[remainder]


def _format(body: str) -> str:
    groups = [body[i : i + 4] for i in range(0, BODY_SYMBOLS, 4)]
    return "-".join([*groups, _check_symbol(body)])


def new_number() -> str:
    """A fresh document number, e.g. ``7K3M-0Q9D-X2HB-R5TA-Q``."""
    return _format("".join(secrets.choice(ALPHABET) for _ in range(BODY_SYMBOLS)))


def normalize_number(raw: str) -> str | None:
    """The canonical form of a typed number, or None when it cannot be one (check fails)."""
    # O, I and L are in neither alphabet, so the check symbol is read as leniently as the body
    text = "".join(raw.upper().split()).replace("-", "").translate(_TYPED)
    if len(text) != BODY_SYMBOLS + 1:
        return None
    body, check = text[:BODY_SYMBOLS], text[BODY_SYMBOLS]
    if any(symbol not in ALPHABET for symbol in body) or _check_symbol(body) != check:
        return None
    return _format(body)


# --- content ---------------------------------------------------------------------------------


def _evidence_records(
    session: Session, app: Application, spec: CertificateSpec
) -> list[dict[str, Any]]:
    row = session.execute(
        select(ApplicationEvidence).where(
            ApplicationEvidence.application_id == app.id,
            ApplicationEvidence.evidence_type == spec.evidence,
            ApplicationEvidence.outcome == "provided",
        )
    ).scalar_one_or_none()
    records: list[dict[str, Any]] = json.loads(row.records) if row is not None else []
    if not records:
        raise ValidationError(
            "no_evidence_for_certificate",
            "証明書に記載する記録が取得されていません。",
            "The record the certificate shows was not obtained.",
        )
    return [r["data"] for r in records]


def _chosen(spec: CertificateSpec, form: dict[str, Any]) -> set[str]:
    return {option for option, path in spec.options if form.get(path) is True}


def _one_record(
    spec: CertificateSpec, form: dict[str, Any], records: list[dict[str, Any]]
) -> dict[str, Any]:
    for data in records:
        if all(str(data.get(field)) == str(form.get(path)) for field, path in spec.record):
            return data
    raise ValidationError(
        "no_record_for_certificate",
        "請求された年度等の記録がないため、証明書を発行できません。",
        "There is no record for what was asked (e.g. that fiscal year); no certificate is issued.",
    )


def _household(
    session: Session, app: Application, spec: CertificateSpec, subject: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every member of the subject's household as the register says today, projected."""
    evidence = evidence_types()[spec.evidence]
    current = registry.as_of(session, evidence.registry_id, app.subject_id)
    household = (current[0].data.get("household") or {}).get("household_id") if current else None
    if not household or app.owner_id is None:
        return [subject]
    members = registry.kept_with(
        session, app.owner_id, evidence.registry_id, "household.household_id", household
    )
    projected = [evidence.project(v.data) for v in members]
    # The head of household first, then by birth date, as a 住民票 lists them.
    return sorted(
        projected,
        key=lambda m: ((m.get("household") or {}).get("relationship") != "世帯主",
                       m.get("birth_date", "")),
    )  # fmt: skip


def content(session: Session, app: Application, definition: ProcedureDefinition) -> dict[str, Any]:
    """What the certificate states: projected evidence, shaped by the options the form chose."""
    spec = definition.certificate
    assert spec is not None
    form = json.loads(app.form_data)
    records = _evidence_records(session, app, spec)
    if spec.layout == "tax_assessment":
        return {"records": [_one_record(spec, form, records)]}
    chosen = _chosen(spec, form)
    members = _household(session, app, spec, records[0]) if "household" in chosen else records[:1]
    if "relationship" not in chosen:
        members = [{k: v for k, v in m.items() if k != "household"} for m in members]
    return {"records": members, "options": sorted(chosen)}


# --- the PDF ---------------------------------------------------------------------------------


def _joined(value: Any, keys: tuple[str, ...], sep: str) -> str:
    if not isinstance(value, dict):
        return str(value)
    return sep.join(str(value[k]) for k in keys if value.get(k) not in (None, ""))


def _resident_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if "name" in data:
        rows.append(("氏名", _joined(data["name"], ("family", "given"), "　")))
    if "kana" in data:
        rows.append(("フリガナ", _joined(data["kana"], ("family", "given"), "　")))
    if "former_name" in data:
        rows.append(("旧氏", _joined(data["former_name"], ("family", "kana"), " / ")))
    for key, label in (("birth_date", "生年月日"), ("sex", "性別")):
        if key in data:
            rows.append((label, str(data[key])))
    if "household" in data:
        rows.append(("世帯主", str(data["household"].get("head_name", ""))))
        rows.append(("続柄", str(data["household"].get("relationship", ""))))
    if "address" in data:
        parts = ("prefecture", "municipality", "town", "block", "building")
        postal = data["address"].get("postal_code")
        prefix = f"〒{postal[:3]}-{postal[3:]} " if postal else ""
        rows.append(("住所", prefix + _joined(data["address"], parts, "")))
    if "became_resident" in data:
        rows.append(("住民となった年月日", str(data["became_resident"])))
    if "moved_in" in data:
        moved = data["moved_in"]
        text = f"{moved.get('date', '')} {moved.get('reason', '')}"
        if moved.get("previous_address"):
            text += f"（前住所 {moved['previous_address']}）"
        rows.append(("住所を定めた年月日", text))
    if "moved_out" in data:
        rows.append(("消除", _joined(data["moved_out"], ("date", "reason", "destination"), " ")))
    if "status" in data:
        rows.append(("状態", str(data["status"])))
    return rows


def _leaves(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        found: list[tuple[str, Any]] = []
        for key, value in data.items():
            found.extend(_leaves(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}"))
        return found
    return [(prefix, data)]


def _tax_rows(registry_id: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    """Every projected field with the register's own title; amounts in yen."""
    definition = get_registry(registry_id)
    rows = []
    for path, value in _leaves(data):
        if isinstance(value, bool):
            shown = "あり" if value else "なし"
        elif isinstance(value, int) and path.startswith(YEN_FIELDS):
            shown = f"{value:,} 円"
        else:
            shown = str(value)
        rows.append((definition.title_of(path), shown))
    return rows


def render_pdf(
    spec: CertificateSpec,
    data: dict[str, Any],
    *,
    number: str,
    issuer: str,
    issued_at: datetime,
    valid_until: date,
    verify_url: str,
) -> bytes:
    """The unsigned certificate (A4, Japanese with English subtitles)."""
    header = [
        ("証明書番号 / Document No.", number),
        ("発行者 / Issuer", issuer),
        ("発行日 / Issued", f"{pades.date_ja(issued_at)} / {to_tokyo(issued_at).date()}"),
        ("有効期限 / Valid until", valid_until.isoformat()),
    ]
    story: list[Flowable] = [
        Paragraph(escape(spec.title.ja), pades.TITLE),
        Paragraph(escape(spec.title.en), pades.BODY),
        Spacer(1, 6 * mm),
        pades.label_table(header),
        Spacer(1, 6 * mm),
    ]
    registry_id = evidence_types()[spec.evidence].registry_id
    for index, record in enumerate(data["records"]):
        rows = (
            _tax_rows(registry_id, record)
            if spec.layout == "tax_assessment"
            else _resident_rows(record)
        )
        if len(data["records"]) > 1:
            story.append(Paragraph(f"{index + 1}.", pades.BODY))
        story += [pades.label_table(rows), Spacer(1, 4 * mm)]
    story += [
        Spacer(1, 6 * mm),
        Paragraph(
            escape(f"上記のとおり証明します。 {pades.date_ja(issued_at)}　{issuer}"), pades.BODY
        ),
        Spacer(1, 8 * mm),
        Paragraph(
            escape(
                "この証明書には発行者の電子公印による電子署名とタイムスタンプが付されています。"
                f"証明書番号により {verify_url} で真正性と失効の有無を確認できます。"
                " This certificate carries the issuer's electronic seal and a time-stamp; check "
                f"that it is genuine and not revoked at {verify_url} with the document number."
            ),
            pades.SMALL,
        ),
    ]
    return pades.a4_pdf(story, title=f"{spec.title.ja} {number}", author=issuer)


# --- issuing ---------------------------------------------------------------------------------


def issue(
    session: Session,
    store: sealing.SealStore,
    app: Application,
    definition: ProcedureDefinition,
) -> Certificate | None:
    """The certificate of an approved certificate procedure (None for any other decision)."""
    spec = definition.certificate
    if spec is None or app.status != "approved" or app.owner_id is None:
        return None
    try:
        data = content(session, app, definition)
    except ValidationError as refused:
        # A reviewer approved without the record the certificate shows: the notice still goes
        # out, the refusal is audited for the office to follow up.
        audit.record(
            session, actor=ISSUER, action="procedure.certificate_refused",
            object_type="application", object_id=app.id, data={"reason": refused.code},
        )  # fmt: skip
        return None
    organization = identity.get_organization(session, app.owner_id)
    number, issued_at = new_number(), utcnow()
    valid_until = to_tokyo(issued_at).date() + timedelta(days=spec.valid_days)
    verify_url = f"{store.settings.base_url.rstrip('/')}/certificates/verify"
    unsigned = render_pdf(
        spec, data, number=number, issuer=organization.name_ja, issued_at=issued_at,
        valid_until=valid_until, verify_url=verify_url,
    )  # fmt: skip
    pdf, serial = pades.sign_pdf(
        session, store, app.owner_id, unsigned, reason=f"{spec.title.ja} / {spec.title.en}"
    )
    row = Certificate(
        number=number,
        application_id=app.id,
        organization_id=app.owner_id,
        kind=spec.kind,
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        seal_serial=serial,
        issued_at=issued_at,
        valid_until=valid_until,
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor=ISSUER, action="procedure.certificate_issued",
        object_type="certificate", object_id=number,
        data={"application_id": app.id, "kind": spec.kind, "pdf_sha256": row.pdf_sha256},
    )  # fmt: skip
    return row


def of_application(session: Session, application_id: str) -> Certificate | None:
    return session.execute(
        select(Certificate).where(Certificate.application_id == application_id)
    ).scalar_one_or_none()


# --- verification and revocation ---------------------------------------------------------------


def _unknown() -> NotFoundError:
    return NotFoundError(
        "certificate_not_found",
        "その番号の証明書はありません。番号をご確認ください。",
        "No certificate has this number; please check it.",
    )


def get(session: Session, raw_number: str) -> Certificate:
    number = normalize_number(raw_number)
    row = session.get(Certificate, number) if number else None
    if row is None:
        raise _unknown()
    return row


def title_of(kind: str) -> tuple[str, str]:
    """(ja, en) name of a certificate kind, from the procedure that issues it."""
    for definition in procedures().values():
        if definition.certificate is not None and definition.certificate.kind == kind:
            return definition.certificate.title.ja, definition.certificate.title.en
    return kind, kind


@dataclass(frozen=True)
class Verification:
    """What anyone may learn from a number: no personal content, only the PDF's own facts."""

    number: str
    kind: str
    title_ja: str
    title_en: str
    issuer_ja: str
    issuer_en: str | None
    issued_at: datetime
    valid_until: date
    status: str  # valid / revoked / expired
    revoked_at: datetime | None
    pdf_matches: bool | None = None
    signature_valid: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "kind": self.kind,
            "title": {"ja": self.title_ja, "en": self.title_en},
            "issuer": {"ja": self.issuer_ja, "en": self.issuer_en},
            "issued_at": self.issued_at.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "status": self.status,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "pdf_matches": self.pdf_matches,
            "signature_valid": self.signature_valid,
        }


def verify(session: Session, raw_number: str, pdf: bytes | None = None) -> Verification:
    """The status of a certificate by number; with ``pdf``, whether that copy is the one issued
    (same SHA-256) and its seal signature validates against the platform root."""
    row = get(session, raw_number)
    organization = identity.get_organization(session, row.organization_id)
    title_ja, title_en = title_of(row.kind)
    if row.revoked_at is not None:
        status = "revoked"
    elif to_tokyo(utcnow()).date() > row.valid_until:
        status = "expired"
    else:
        status = "valid"
    matches = signed = None
    if pdf is not None:
        matches = secrets.compare_digest(hashlib.sha256(pdf).hexdigest(), row.pdf_sha256)
        signed = pades.validate(session, pdf)
    return Verification(
        row.number, row.kind, title_ja, title_en, organization.name_ja, organization.name_en,
        row.issued_at, row.valid_until, status, row.revoked_at, matches, signed,
    )  # fmt: skip


def revoke(session: Session, actor: Actor, raw_number: str, reason: str) -> Certificate:
    """An official (reviewer) of the issuing organization revokes a certificate, audited."""
    row = get(session, raw_number)
    if (
        actor.kind is not ActorKind.OFFICIAL
        or not actor.can(Permission.APPLICATION_REVIEW)
        or actor.organization_id != row.organization_id
    ):
        raise PermissionDenied(
            "not_issuer",
            "証明書を失効させられるのは発行した機関の審査担当職員だけです。",
            "Only reviewers of the issuing organization may revoke a certificate.",
        )
    if reason not in REVOKE_REASONS:
        raise ValidationError(
            "bad_revoke_reason",
            "失効の理由を選んでください。",
            f"Choose a reason: {', '.join(REVOKE_REASONS)}.",
        )
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = utcnow(), actor.label
        audit.record(
            session, actor=actor.label, action="procedure.certificate_revoked",
            object_type="certificate", object_id=row.number,
            data={"application_id": row.application_id, "reason": reason},
        )  # fmt: skip
    return row
