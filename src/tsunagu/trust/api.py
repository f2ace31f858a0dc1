"""Trust endpoints for wallets and relying parties (no login: the code, the key or
the signature itself is the credential, and nothing here reveals more than the
caller already holds).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request
from fastapi.responses import Response

from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import ValidationError
from tsunagu.core.web import DbSession
from tsunagu.trust import cms, protocol, service, tsa
from tsunagu.trust.models import Certificate
from tsunagu.trust.pki import AuthorityRole, person_from_name
from tsunagu.trust.schemas import (
    AssembleSignatureIn,
    BytesOut,
    CertificateOut,
    ChallengeOut,
    CmsOut,
    CsrInfoIn,
    CsrPartsIn,
    EnrollmentChallengeIn,
    EnrollmentIn,
    EnrollmentOut,
    PrepareSignatureIn,
    SignerOut,
    StatusIn,
    StatusOut,
    VerifyIn,
    VerifyOut,
)

router = APIRouter(prefix="/api/trust", tags=["trust"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


def _cert_bytes(text: str) -> bytes:
    """A certificate given as PEM text or Base64 DER."""
    if text.lstrip().startswith("-----BEGIN"):
        return text.encode("ascii", "replace")
    return protocol.unb64(text.strip(), what="certificate")


def certificate_out(row: Certificate) -> CertificateOut:
    return CertificateOut(
        kind=row.kind,
        serial=row.serial,
        not_before=row.not_before,
        not_after=row.not_after,
        pem=_pem(row.der),
    )


@router.get("/ca/{role}.cer", response_class=Response)
def ca_certificate(role: str, session: DbSession) -> Response:
    """A CA certificate (DER), as named in the AIA extension of issued certificates."""
    return Response(
        service.authority_certificate(session, role), media_type="application/pkix-cert"
    )


@router.get("/ca/{role}.pem", response_class=Response)
def ca_certificate_pem(role: str, session: DbSession) -> Response:
    return Response(
        _pem(service.authority_certificate(session, role)), media_type="application/x-pem-file"
    )


@router.get("/crl/{role}.crl", response_class=Response)
def crl(role: str, request: Request, session: DbSession) -> Response:
    """The CA's current CRL (DER, signed by that CA)."""
    return Response(
        service.crl(session, _settings(request), role), media_type="application/pkix-crl"
    )


@router.post("/status", response_model=StatusOut)
def status(body: StatusIn, session: DbSession) -> StatusOut:
    """Validity check for relying parties (No.5-2): good, revoked (with reason) or expired."""
    if (body.certificate is None) == (body.serial is None):
        raise ValidationError(
            "certificate_or_serial",
            "証明書かシリアル番号のどちらか一方を指定してください。",
            "Give either the certificate or its serial number.",
        )
    der = _cert_bytes(body.certificate) if body.certificate is not None else None
    result = service.certificate_status(session, der=der, serial=body.serial)
    return StatusOut(**result.__dict__)


@router.post("/enrollment/challenge", response_model=ChallengeOut)
def enrollment_challenge(
    body: EnrollmentChallengeIn, request: Request, session: DbSession
) -> ChallengeOut:
    """Step 1 of enrollment: a nonce the wallet puts into both CSRs (challengePassword)."""
    issued = service.enrollment_challenge(session, _settings(request), body.code)
    return ChallengeOut(nonce=issued.nonce, origin=issued.origin, expires_at=issued.expires_at)


@router.post("/enrollment", response_model=EnrollmentOut)
def enrollment(body: EnrollmentIn, request: Request, session: DbSession) -> EnrollmentOut:
    """Step 2: both CSRs prove possession; the code and nonce are used up; certificates issued."""
    rows = service.complete_enrollment(
        session,
        _settings(request),
        code=body.code,
        nonce=body.nonce,
        signing_csr=body.signing_csr.encode("ascii", "replace"),
        authentication_csr=(
            body.authentication_csr.encode("ascii", "replace") if body.authentication_csr else None
        ),
    )
    store = service.trust_store(session)
    return EnrollmentOut(
        certificates=[certificate_out(row) for row in rows],
        chain=[_pem(store.ders[AuthorityRole.SIGNING])],
        root=_pem(store.ders[AuthorityRole.ROOT]),
    )


@router.post("/enrollment/csr-info", response_model=BytesOut)
def csr_info(body: CsrInfoIn) -> BytesOut:
    """Prepare the PKCS#10 bytes a browser key signs (the key never leaves the device)."""
    return BytesOut(data=protocol.b64(protocol.csr_info(protocol.unb64(body.spki), body.nonce)))


@router.post("/enrollment/csr", response_model=BytesOut)
def csr_assemble(body: CsrPartsIn) -> BytesOut:
    """Wrap prepared bytes and the device's signature into a CSR (checked at enrollment)."""
    signature = protocol.unb64(body.signature, what="signature")
    if len(signature) == 64:
        signature = cms.p1363_to_der(signature)
    return BytesOut(
        data=protocol.b64(protocol.csr_from_parts(protocol.unb64(body.info), signature))
    )


@router.post("/signatures/prepare", response_model=BytesOut)
def prepare_signature(body: PrepareSignatureIn, session: DbSession) -> BytesOut:
    """The signed attributes a device signs for a detached CMS signature over ``digest``."""
    cert = service.validate_certificate(session, _cert_bytes(body.certificate))
    attrs = cms.signed_attributes(protocol.unb64(body.digest, what="digest"), cert.der, utcnow())
    return BytesOut(data=protocol.b64(attrs))


@router.post("/signatures/assemble", response_model=CmsOut)
def assemble_signature(body: AssembleSignatureIn, request: Request, session: DbSession) -> CmsOut:
    """Wrap a device's signature into CMS SignedData, check it, and time-stamp it."""
    cert = service.validate_certificate(session, _cert_bytes(body.certificate))
    signature = protocol.unb64(body.signature, what="signature")
    if len(signature) == 64:
        signature = cms.p1363_to_der(signature)
    signed_attrs = protocol.unb64(body.signed_attrs, what="signed_attrs")
    der = cms.assemble(
        signed_attrs=signed_attrs,
        signature=signature,
        signer_cert_der=cert.der,
        chain_ders=service.trust_store(session).chain(cert.issuer_role),
    )
    cms.verify_raw(cert.public_key, signature, signed_attrs)
    if body.timestamp:
        der = service.timestamp_signature(session, _settings(request), der)
    return CmsOut(cms=protocol.b64(der))


@router.post("/signatures/verify", response_model=VerifyOut)
def verify_signature(body: VerifyIn, session: DbSession) -> VerifyOut:
    """Verify a detached CMS signature (or JSON envelope) made with a platform certificate."""
    if body.envelope is not None:
        result = service.verify_envelope(session, body.envelope)
    elif body.content is not None and body.cms is not None:
        result = service.verify_signature(
            session,
            protocol.unb64(body.cms, what="cms"),
            protocol.unb64(body.content, what="content"),
        )
    else:
        raise ValidationError(
            "nothing_to_verify",
            "content と cms、または envelope を指定してください。",
            "Give content and cms, or an envelope.",
        )
    signer = result.signer
    person = (
        person_from_name(signer.certificate.subject) if signer.kind.value == "signing" else None
    )
    return VerifyOut(
        valid=True,
        signer=SignerOut(
            serial=signer.serial,
            kind=signer.kind.value,
            subject=signer.certificate.subject.rfc4514_string(),
            name=person.name if person else None,
            birth_date=person.birth_date.isoformat() if person else None,
            sex=person.sex if person else None,
            address=person.address if person else None,
            former_surname=person.former_surname if person else None,
        ),
        signing_time=result.signing_time,
        timestamp=result.timestamp,
        valid_at=result.valid_at,
    )


@router.post("/tsa", response_class=Response)
async def time_stamp(request: Request, session: DbSession) -> Response:
    """RFC 3161 over HTTP: ``application/timestamp-query`` in, ``-reply`` out."""
    body = await request.body()
    try:
        token = service.timestamp_token(session, _settings(request), body)
        reply = tsa.response(token)
    except ValidationError:
        reply = tsa.rejection("bad_request")
    return Response(reply, media_type="application/timestamp-reply")
