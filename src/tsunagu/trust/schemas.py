"""Request and response bodies of the trust API (sizes bounded: oversized input is refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

MAX_B64 = 350_000  # a 256 KiB CMS in Base64
MAX_PEM = 12_000


class EnrollmentChallengeIn(BaseModel):
    code: str = Field(min_length=4, max_length=40)


class ChallengeOut(BaseModel):
    nonce: str
    origin: str
    expires_at: datetime


class EnrollmentIn(BaseModel):
    code: str = Field(min_length=4, max_length=40)
    nonce: str = Field(min_length=10, max_length=100)
    signing_csr: str = Field(min_length=1, max_length=MAX_PEM)
    authentication_csr: str | None = Field(default=None, max_length=MAX_PEM)


class CertificateOut(BaseModel):
    kind: str
    serial: str
    not_before: datetime
    not_after: datetime
    pem: str


class EnrollmentOut(BaseModel):
    certificates: list[CertificateOut]
    chain: list[str]
    root: str


class CsrInfoIn(BaseModel):
    """A browser key's SubjectPublicKeyInfo (Base64 DER) and the enrollment nonce."""

    spki: str = Field(min_length=1, max_length=2000)
    nonce: str = Field(min_length=10, max_length=100)


class CsrPartsIn(BaseModel):
    """The prepared CertificationRequestInfo and the device's signature (r‖s or DER)."""

    info: str = Field(min_length=1, max_length=4000)
    signature: str = Field(min_length=1, max_length=400)


class BytesOut(BaseModel):
    data: str


class StatusIn(BaseModel):
    certificate: str | None = Field(default=None, max_length=MAX_PEM)
    serial: str | None = Field(default=None, max_length=42, pattern=r"^[0-9a-fA-F]+$")


class StatusOut(BaseModel):
    serial: str
    kind: str
    status: str
    reason: str | None
    revoked_at: datetime | None
    not_before: datetime
    not_after: datetime
    checked_at: datetime


class PrepareSignatureIn(BaseModel):
    certificate: str = Field(min_length=1, max_length=MAX_PEM)
    digest: str = Field(min_length=44, max_length=44, description="SHA-256 of the content, Base64")


class AssembleSignatureIn(BaseModel):
    certificate: str = Field(min_length=1, max_length=MAX_PEM)
    signed_attrs: str = Field(min_length=1, max_length=8000)
    signature: str = Field(min_length=1, max_length=800)
    timestamp: bool = True


class CmsOut(BaseModel):
    cms: str


class VerifyIn(BaseModel):
    """Either ``content`` + ``cms`` (both Base64) or a JSON ``envelope``."""

    content: str | None = Field(default=None, max_length=MAX_B64)
    cms: str | None = Field(default=None, max_length=MAX_B64)
    envelope: dict[str, Any] | None = None


class SignerOut(BaseModel):
    serial: str
    kind: str
    subject: str
    name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    address: str | None = None
    former_surname: str | None = None


class VerifyOut(BaseModel):
    valid: bool
    signer: SignerOut
    signing_time: datetime | None
    timestamp: datetime | None
    valid_at: datetime
