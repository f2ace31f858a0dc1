"""Tables of the trust module: CAs, issued certificates, enrollments and challenges.

Subjects are referred to by an opaque ``subject_ref`` (for persons, the identity
module's person id): trust sits below identity and never reads its tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime


class Authority(Base):
    """A CA of the platform (or the TSA); its private key lives encrypted under the var dir."""

    __tablename__ = "trust_authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(32), unique=True)
    cert_der: Mapped[bytes] = mapped_column(LargeBinary)
    key_file: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    crl_number: Mapped[int] = mapped_column(Integer, default=0)
    crl_der: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    crl_this_update: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Certificate(Base):
    """An end-entity certificate issued by the platform, with its revocation status."""

    __tablename__ = "trust_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(42), unique=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("trust_authorities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject_ref: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Enrollment(Base):
    """A one-time enrollment code handed out at the counter after an in-person check."""

    __tablename__ = "trust_enrollments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subject_ref: Mapped[str] = mapped_column(String(64), index=True)
    subject_json: Mapped[str] = mapped_column(Text)
    municipality_code: Mapped[str] = mapped_column(String(6))
    scope: Mapped[str] = mapped_column(String(20))
    identity_check: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Challenge(Base):
    """A fresh nonce bound to a purpose, an origin and an expiry; usable once."""

    __tablename__ = "trust_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    origin: Mapped[str] = mapped_column(String(200))
    binding: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
