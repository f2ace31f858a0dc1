"""Tables for access: login sessions, password+TOTP credentials, business accounts
and electronic powers of attorney (imported by ``identity.models``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime

ID = String(36)


class LoginSession(Base):
    """A login; only the SHA-256 of its cookie token is stored."""

    __tablename__ = "identity_sessions"
    __table_args__ = (
        CheckConstraint(
            "(person_id IS NOT NULL) OR (official_id IS NOT NULL) OR (member_id IS NOT NULL)",
            name="principal",
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str | None] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    official_id: Mapped[str | None] = mapped_column(ForeignKey("identity_officials.id"), index=True)
    member_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_business_members.id"), index=True
    )
    method: Mapped[str] = mapped_column(String(20))
    ial: Mapped[int] = mapped_column(Integer)
    aal: Mapped[int] = mapped_column(Integer)
    certificate_serial: Mapped[str | None] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PasswordCredential(Base):
    """Password (argon2id hash) and TOTP secret (sealed) of an official or business member."""

    __tablename__ = "identity_credentials"
    __table_args__ = (
        CheckConstraint("(official_id IS NULL) <> (member_id IS NULL)", name="one_holder"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    official_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_officials.id", ondelete="CASCADE"), unique=True
    )
    member_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_business_members.id", ondelete="CASCADE"), unique=True
    )
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str] = mapped_column(Text)
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BusinessAccount(Base):
    """A corporation's gBizID-like account, opened by its representative (the prime)."""

    __tablename__ = "identity_business_accounts"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey(
            "identity_organizations.id", name="fk_identity_business_accounts_organization_id"
        ),
        unique=True,
    )
    prime_person_id: Mapped[str] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    verification: Mapped[str] = mapped_column(String(20))
    verification_ref: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BusinessMember(Base):
    """A person acting for a business account: the prime, or a member the prime created."""

    __tablename__ = "identity_business_members"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("identity_business_accounts.id", name="fk_identity_business_members_account_id"),
        index=True,
    )
    person_id: Mapped[str | None] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    login_name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    is_prime: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Delegation(Base):
    """An electronic power of attorney (電子委任状): signed, scoped, time-limited, revocable."""

    __tablename__ = "identity_delegations"
    __table_args__ = (
        CheckConstraint(
            "(principal_person_id IS NULL) <> (principal_organization_id IS NULL)",
            name="one_principal",
        ),
        CheckConstraint(
            "(agent_person_id IS NULL) <> (agent_organization_id IS NULL)", name="one_agent"
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    principal_person_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_persons.id"), index=True
    )
    principal_organization_id: Mapped[str | None] = mapped_column(
        ForeignKey(
            "identity_organizations.id", name="fk_identity_delegations_principal_organization_id"
        ),
        index=True,
    )
    agent_person_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_persons.id"), index=True
    )
    agent_organization_id: Mapped[str | None] = mapped_column(
        ForeignKey(
            "identity_organizations.id", name="fk_identity_delegations_agent_organization_id"
        ),
        index=True,
    )
    procedures: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    document: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    signer_serial: Mapped[str] = mapped_column(String(42))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(200))
