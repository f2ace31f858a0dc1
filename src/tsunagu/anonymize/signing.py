"""Sealing release records with the organization's seal certificate, and checking seals.

The signature is a detached CMS SignedData over the canonical JSON of the
record (``service.to_be_signed``), made with the organization's seal key
held by this deployment (``exchange.sealing.SealStore``, the same seals
that sign once-only exchange messages) and time-stamped by the platform's
RFC 3161 TSA (CAdES-T), so the seal stays checkable after the certificate
expires or is revoked later. Anyone can check it with OpenSSL: the content
is ``record.json`` and the signature ``record.p7s``.

Verification recomputes the content from the stored record: a record changed
after signing no longer matches the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tsunagu.anonymize import service
from tsunagu.anonymize.models import AnonymizationRelease
from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import ConflictError, TsunaguError
from tsunagu.core.outbox import service as outbox
from tsunagu.exchange.sealing import SealStore
from tsunagu.trust import cms
from tsunagu.trust import service as trust
from tsunagu.trust.pki import CertKind

TOPIC_SIGNED = "anonymize.release.signed"


@dataclass(frozen=True)
class Verification:
    valid: bool
    code: str
    message_ja: str
    message_en: str
    signer_serial: str | None = None
    signer_organization_id: str | None = None
    time_stamp: datetime | None = None


def _not_signed() -> ConflictError:
    return ConflictError(
        "anonymize.not_signed",
        "この作成記録はまだ電子公印で署名されていません",
        "this release has not been sealed yet",
    )


def sign_release(
    session: Session, settings: Settings, store: SealStore, row: AnonymizationRelease, *, actor: str
) -> AnonymizationRelease:
    """Seal the release with its organization's seal and a platform time-stamp."""
    if row.status != service.RECORDED or row.signature is not None:
        raise ConflictError(
            "anonymize.already_signed",
            "この作成記録は既に署名されています",
            "this release is already sealed",
        )
    if row.organization_id is None:
        raise ConflictError(
            "anonymize.no_organization",
            "作成した組織が記録されていないため署名できません",
            "the release names no organization, so it cannot be sealed",
        )
    content = service.to_be_signed(row)
    seal = store.seal_for(session, row.organization_id)
    signature = cms.sign_detached(
        content,
        sign=lambda data: cms.raw_signature(seal.key, data),
        signer_cert_der=seal.cert_der,
        chain_ders=seal.chain,
        signing_time=utcnow().replace(microsecond=0),
    )
    stamped = trust.timestamp_signature(session, settings, signature)
    checked = trust.verify_signature(session, stamped, content, kinds=(CertKind.SEAL,))
    row.signature = stamped
    row.signer_serial = checked.signer.serial
    row.signed_at = checked.timestamp
    row.signed_by = actor
    row.status = service.SIGNED
    audit.record(
        session,
        actor=actor,
        action="anonymize.release.sign",
        object_type="anonymize_release",
        object_id=row.id,
        data={"record_sha256": row.record_sha256, "signer_serial": row.signer_serial},
    )
    outbox.publish(
        session, TOPIC_SIGNED, {"release_id": row.id, "record_sha256": row.record_sha256}
    )
    return row


def signature_of(row: AnonymizationRelease) -> bytes:
    if row.signature is None:
        raise _not_signed()
    return bytes(row.signature)


def verify_release(session: Session, row: AnonymizationRelease) -> Verification:
    """Chain, validity at the time-stamp, revocation, the organization, and the content."""
    if row.signature is None:
        error: TsunaguError = _not_signed()
        return Verification(False, error.code, error.message_ja, error.message_en)
    try:
        content = service.to_be_signed(row)
        checked = trust.verify_signature(
            session, bytes(row.signature), content, kinds=(CertKind.SEAL,)
        )
    except TsunaguError as exc:
        return Verification(False, exc.code, exc.message_ja, exc.message_en)
    owner = checked.signer.subject_ref
    if owner is None or owner != row.organization_id:
        return Verification(
            False,
            "anonymize.wrong_seal",
            "作成した組織以外の電子公印で署名されています",
            "the seal belongs to another organization than the one that made the release",
            checked.signer.serial,
            owner,
            checked.timestamp,
        )
    return Verification(
        True,
        "anonymize.seal_valid",
        "電子公印は有効で、作成記録は署名後に変更されていません",
        "the seal is valid and the record has not changed since it was sealed",
        checked.signer.serial,
        owner,
        checked.timestamp,
    )


def require_valid(session: Session, row: AnonymizationRelease) -> Verification:
    """The verification, raised as a conflict when the seal does not hold."""
    result = verify_release(session, row)
    if not result.valid:
        raise ConflictError(result.code, result.message_ja, result.message_en)
    return result
