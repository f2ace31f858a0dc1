"""Tables of the once-only exchange.

- designations: which statutory functions an organization performs (beyond
  those its kind implies);
- cases: an application an organization is handling, with its subjects and
  their consents — a fetch must name one;
- access log: every fetch and every delivered change notification, each row
  pointing at the audit record (``audit_seq``) that makes it tamper-evident;
- subscriptions and the inbox of delivered, signature-checked notifications.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime

ID = String(36)
BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Designation(Base):
    __tablename__ = "exchange_designations"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("identity_organizations.id"), primary_key=True
    )
    function_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    designated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    designated_by: Mapped[str] = mapped_column(String(200))


class Case(Base):
    """An application handled by ``requester_id`` under ``procedure_id``."""

    __tablename__ = "exchange_cases"
    __table_args__ = (UniqueConstraint("requester_id", "application_ref"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    requester_id: Mapped[str] = mapped_column(ForeignKey("identity_organizations.id"))
    procedure_id: Mapped[str] = mapped_column(String(50))
    application_ref: Mapped[str] = mapped_column(String(100), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseSubject(Base):
    __tablename__ = "exchange_case_subjects"

    case_id: Mapped[str] = mapped_column(
        ForeignKey("exchange_cases.id", ondelete="CASCADE"), primary_key=True
    )
    party_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(30))


class Consent(Base):
    """The subject agreed that this case may fetch this evidence (or any, when NULL)."""

    __tablename__ = "exchange_consents"
    __table_args__ = (Index("ix_exchange_consents_case_party", "case_id", "party_id"),)

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("exchange_cases.id", ondelete="CASCADE"))
    party_id: Mapped[str] = mapped_column(String(64))
    evidence_type_id: Mapped[str | None] = mapped_column(String(50))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    given_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccessLogEntry(Base):
    """One fetch (allowed or refused) or delivered notification about a data subject."""

    __tablename__ = "exchange_access_log"
    __table_args__ = (
        Index("ix_exchange_access_log_party_time", "party_id", "occurred_at"),
        Index("ix_exchange_access_log_requester_time", "requester_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    audit_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    party_id: Mapped[str | None] = mapped_column(String(64))
    requester_id: Mapped[str | None] = mapped_column(String(64))
    requester_verified: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[str | None] = mapped_column(String(64))
    registry_id: Mapped[str | None] = mapped_column(String(50))
    evidence_type_id: Mapped[str | None] = mapped_column(String(50))
    procedure_id: Mapped[str | None] = mapped_column(String(50))
    application_ref: Mapped[str | None] = mapped_column(String(100))
    provision_id: Mapped[str | None] = mapped_column(String(50))
    fields: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(50))
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)


# The tables themselves, for the fetch's hot path: prebuilt Core statements
# cost a fraction of ORM queries, and a fetch makes several.
DESIGNATIONS = cast(Table, Designation.__table__)
CASES = cast(Table, Case.__table__)
CASE_SUBJECTS = cast(Table, CaseSubject.__table__)
CONSENTS = cast(Table, Consent.__table__)
ACCESS_LOG = cast(Table, AccessLogEntry.__table__)


class Subscription(Base):
    """An organization asked to be told of some events of a registry, under a basis."""

    __tablename__ = "exchange_subscriptions"
    __table_args__ = (Index("ix_exchange_subscriptions_registry_event", "registry_id", "event_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("identity_organizations.id"), index=True)
    basis_id: Mapped[str] = mapped_column(String(50))
    registry_id: Mapped[str] = mapped_column(String(50))
    event_id: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(200))


class InboxMessage(Base):
    """A notification delivered to a subscriber after its seal was verified."""

    __tablename__ = "exchange_inbox"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("exchange_subscriptions.id"))
    subscriber_id: Mapped[str] = mapped_column(String(36), index=True)
    publisher_id: Mapped[str] = mapped_column(String(36))
    registry_id: Mapped[str] = mapped_column(String(50))
    events: Mapped[str] = mapped_column(String(500))
    subject_id: Mapped[str] = mapped_column(String(64))
    party_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    signer_serial: Mapped[str] = mapped_column(String(42))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
