"""Tables of the procedure module: applications, the evidence fetched for them, comments,
decisions, and fees (payments, provider events, exemptions, receipts)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime

ID = String(36)
TZ = UTCDateTime()


class Application(Base):
    """One application (申請・届出) from draft to decision.

    The applicant is the actor who files (``applicant``: an audit label);
    the subject is whom it is about (a person, or a corporation for employer
    procedures). The form is kept as canonical JSON, the signature as the
    CMS the applicant made over the canonical application document.
    """

    __tablename__ = "procedure_applications"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    procedure_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    applicant: Mapped[str] = mapped_column(String(80), index=True)
    role: Mapped[str] = mapped_column(String(20))
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[str] = mapped_column(ID, index=True)
    delegation_id: Mapped[str | None] = mapped_column(ID)
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_organizations.id"), index=True
    )
    form_data: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    signer_serial: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(ID)
    batch_id: Mapped[str | None] = mapped_column(ID, index=True)
    fee: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)
    submitted_at: Mapped[datetime | None] = mapped_column(TZ)
    due_on: Mapped[date | None] = mapped_column(Date)
    days_used: Mapped[int] = mapped_column(Integer)
    clock_from: Mapped[date | None] = mapped_column(Date)
    assigned_to: Mapped[str | None] = mapped_column(ForeignKey("identity_officials.id"))
    decided_at: Mapped[datetime | None] = mapped_column(TZ)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    automatic: Mapped[bool] = mapped_column(Boolean)
    decision_reason: Mapped[str | None] = mapped_column(Text)


class ApplicationEvidence(Base):
    """What the exchange answered at submission: the verified response and the keeper's seal."""

    __tablename__ = "procedure_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("procedure_applications.id"), index=True)
    evidence_type: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[str | None] = mapped_column(ID)
    records: Mapped[str] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
    seal_serial: Mapped[str | None] = mapped_column(String(64))
    fetched_at: Mapped[datetime] = mapped_column(TZ)


class ApplicationComment(Base):
    """A note on an application: to the applicant (補正の理由 …) or internal to the office."""

    __tablename__ = "procedure_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("procedure_applications.id"), index=True)
    author: Mapped[str] = mapped_column(String(80))
    internal: Mapped[bool] = mapped_column(Boolean)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ)


class Decision(Base):
    """The decision notice (決定通知書) of an application, as issued.

    ``pdf`` is the PAdES notice signed with the owner's seal and time-stamped;
    ``document`` is the machine-readable copy as a sealed JSON envelope. Both
    are kept exactly as issued so they can be handed out again and verified.
    """

    __tablename__ = "procedure_decisions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    application_id: Mapped[str] = mapped_column(
        ForeignKey("procedure_applications.id"), unique=True
    )
    organization_id: Mapped[str] = mapped_column(ForeignKey("identity_organizations.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    document: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    seal_serial: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(TZ)


class Payment(Base):
    """A fee payment started through a provider (one payment intent), as the platform sees it.

    ``status`` moves once, from ``pending`` to ``paid`` or ``declined``, by a
    conditional update, so however often a provider's confirmation arrives the
    fee is booked once.
    """

    __tablename__ = "procedure_payments"
    __table_args__ = (UniqueConstraint("provider", "intent_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("procedure_applications.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("identity_organizations.id"))
    provider: Mapped[str] = mapped_column(String(20))
    intent_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12), index=True)
    payer: Mapped[str] = mapped_column(String(80))
    checkout_url: Mapped[str] = mapped_column(String(500))
    event_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TZ)
    settled_at: Mapped[datetime | None] = mapped_column(TZ)


class PaymentEvent(Base):
    """Each provider event accepted, once: its unique (provider, event id) turns replays into
    no-ops, also when two copies arrive at the same moment."""

    __tablename__ = "procedure_payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[str] = mapped_column(ForeignKey("procedure_payments.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(TZ)


class FeeExemption(Base):
    """An exemption (減免) the applicant claimed from the procedure's list; the fee it replaced is
    kept so the reviewer sees what was waived and why."""

    __tablename__ = "procedure_exemptions"

    application_id: Mapped[str] = mapped_column(
        ForeignKey("procedure_applications.id"), primary_key=True
    )
    exemption_id: Mapped[str] = mapped_column(String(64))
    waived: Mapped[int] = mapped_column(Integer)
    claimed_by: Mapped[str] = mapped_column(String(80))
    claimed_at: Mapped[datetime] = mapped_column(TZ)


class Receipt(Base):
    """領収書: the PDF receipt of a paid fee, signed with the receiving organization's seal and
    kept exactly as issued. ``id`` is the receipt number printed on it."""

    __tablename__ = "procedure_receipts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("procedure_payments.id"), unique=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("procedure_applications.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("identity_organizations.id"))
    amount: Mapped[int] = mapped_column(Integer)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    seal_serial: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(TZ)


class SandboxIntent(Base):
    """The sandbox provider's own record of a checkout (what an external provider would keep on
    its side): the platform learns the outcome only from the signed callback."""

    __tablename__ = "procedure_sandbox_intents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(64))
    return_url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(TZ)
    completed_at: Mapped[datetime | None] = mapped_column(TZ)


class Certificate(Base):
    """A certificate (住民票の写し, 課税証明書 …) issued on approval of a certificate procedure.

    ``number`` is the document number printed on the PDF (random, with a check
    character) by which a bank or employer verifies it; ``pdf`` is kept
    exactly as issued so an uploaded copy can be compared byte for byte.
    """

    __tablename__ = "procedure_certificates"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_id: Mapped[str] = mapped_column(
        ForeignKey("procedure_applications.id"), unique=True
    )
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("identity_organizations.id", name="fk_procedure_certificates_organization_id")
    )
    kind: Mapped[str] = mapped_column(String(40))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    seal_serial: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(TZ)
    valid_until: Mapped[date] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(TZ)
    revoked_by: Mapped[str | None] = mapped_column(String(80))


class InboxRead(Base):
    """A person has opened an item of their inbox (a decision notice or a certificate)."""

    __tablename__ = "procedure_inbox_reads"

    person_id: Mapped[str] = mapped_column(ForeignKey("identity_persons.id"), primary_key=True)
    item_kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(TZ)


class ApplicationUpload(Base):
    """A document the applicant uploaded where no register holds the facts (damage photos).

    The bytes live outside the web root under ``<var_dir>/uploads`` with a
    random name; the form holds the upload's id, so the signature covers it,
    and ``sha256`` pins the content it names.
    """

    __tablename__ = "procedure_uploads"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("procedure_applications.id"), index=True)
    field: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    uploaded_at: Mapped[datetime] = mapped_column(TZ)
