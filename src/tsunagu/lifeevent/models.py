"""Tables of the life-event module."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime

ID = String(36)
TZ = UTCDateTime()


class ProactiveNotice(Base):
    """A proactive offer (プッシュ型) made to a resident because a rule held on their facts.

    ``period_key`` says which occurrence the notice is about (a child's birth,
    a fiscal year, the end of a certification period); one rule notifies one
    person once per period, so rescans and repeated events never repeat an
    offer, and a dismissed offer stays dismissed. ``prefill`` is the form the
    one-click application starts from (canonical JSON).
    """

    __tablename__ = "lifeevent_proactive_notices"
    __table_args__ = (
        Index(
            "uq_lifeevent_proactive_notices_occurrence",
            "rule_id",
            "person_id",
            "period_key",
            unique=True,
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(ID, index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    period_key: Mapped[str] = mapped_column(String(100))
    about: Mapped[str | None] = mapped_column(String(200))
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    procedure_id: Mapped[str | None] = mapped_column(String(64))
    prefill: Mapped[str] = mapped_column(Text)
    application_id: Mapped[str | None] = mapped_column(
        ForeignKey("procedure_applications.id", name="fk_lifeevent_proactive_notices_application")
    )
    found_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)


# --- private-sector notices: companies told of a resident's life event under consent -------


class NoticeSubscriber(Base):
    """A company (電力・ガス・水道・銀行・携帯電話・郵便転送 …) that receives life-event notices.

    ``declared`` is canonical JSON ``{event: [field, …]}``: the events the company
    wants and, per event, the minimal fields it needs. ``secret_ciphertext`` is
    the webhook's HMAC key as a Fernet token, so a copy of the database does not
    let anyone forge notices.
    """

    __tablename__ = "lifeevent_subscribers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("identity_organizations.id"), index=True
    )
    corporate_number: Mapped[str] = mapped_column(String(13))
    name: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(30))
    webhook_url: Mapped[str] = mapped_column(String(2000))
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    declared: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ)
    created_by: Mapped[str] = mapped_column(String(100))
    ended_at: Mapped[datetime | None] = mapped_column(TZ)
    ended_by: Mapped[str | None] = mapped_column(String(100))


class NoticeConsent(Base):
    """A resident's consent that one company be told of one event, with the fields agreed.

    Rows are never deleted: withdrawing sets ``withdrawn_at``, so the history of
    what was agreed when stays answerable. At most one consent per person,
    company and event is in force.
    """

    __tablename__ = "lifeevent_consents"
    __table_args__ = (
        Index(
            "uq_lifeevent_consents_in_force",
            "person_id",
            "subscriber_id",
            "event",
            unique=True,
            sqlite_where=text("withdrawn_at IS NULL"),
            postgresql_where=text("withdrawn_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("lifeevent_subscribers.id"), index=True)
    event: Mapped[str] = mapped_column(String(30))
    fields: Mapped[str] = mapped_column(Text)
    given_at: Mapped[datetime] = mapped_column(TZ)
    given_by: Mapped[str] = mapped_column(String(100))
    withdrawn_at: Mapped[datetime | None] = mapped_column(TZ)
    withdrawn_by: Mapped[str | None] = mapped_column(String(100))


class NoticeDelivery(Base):
    """One notice to one company by webhook, with its own retry clock.

    ``body`` is the exact JSON posted (only declared and consented fields); it is
    cleared once delivered or cancelled so personal data is not kept longer than
    the delivery needs. The id derives from the source event, the company and
    the event, so a source processed twice yields one delivery.
    """

    __tablename__ = "lifeevent_deliveries"
    __table_args__ = (Index("ix_lifeevent_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("lifeevent_subscribers.id"), index=True)
    person_id: Mapped[str] = mapped_column(ID, index=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("lifeevent_consents.id"), index=True)
    event: Mapped[str] = mapped_column(String(30))
    source: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(TZ)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TZ)
    delivered_at: Mapped[datetime | None] = mapped_column(TZ)
    replayed_by: Mapped[str | None] = mapped_column(String(100))


class BundleFiling(Base):
    """One life event filed as a bundle: the answers, one signature, the parts it fanned out to.

    ``answers`` holds the choices and the few typed facts (canonical JSON);
    ``document`` is exactly what the resident signed (every part's application
    document and the companies to tell), kept so the one signature can be
    verified again later. The figures (typed, prefilled, unnecessary) are
    counted when the bundle is prepared, for the plan office's indicators.
    """

    __tablename__ = "lifeevent_bundles"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    bundle_id: Mapped[str] = mapped_column(String(64), index=True)
    applicant: Mapped[str] = mapped_column(String(80), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    answers: Mapped[str] = mapped_column(Text)
    members: Mapped[str] = mapped_column(Text)
    notify: Mapped[str] = mapped_column(Text)
    document: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    fields_typed: Mapped[int] = mapped_column(Integer)
    fields_prefilled: Mapped[int] = mapped_column(Integer)
    choices: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TZ)
    submitted_at: Mapped[datetime | None] = mapped_column(TZ)


class BundlePart(Base):
    """One procedure of a bundle for one person (or vehicle), and how its submission went.

    The application's own state is the procedure module's; ``outcome`` only
    records whether the part could be submitted (a refusal is kept with its
    reason in both languages, so the resident sees exactly what is pending).
    """

    __tablename__ = "lifeevent_bundle_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filing_id: Mapped[str] = mapped_column(ForeignKey("lifeevent_bundles.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    procedure_id: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(ID)
    application_id: Mapped[str] = mapped_column(ID, index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_ja: Mapped[str | None] = mapped_column(Text)
    error_en: Mapped[str | None] = mapped_column(Text)


# --- employers' one-stop: hiring and leaving (入社・退社) ---------------------------------------


class EmployerFiling(Base):
    """One hire or one leaver filed by an employer: the parts it needs, under one signature.

    ``corporation_id`` is the employer (the subject of every part); ``applicant``
    who filed it (a member of its business account, or a 社会保険労務士 under its
    power of attorney). ``facts`` are what the HR software sent (canonical JSON,
    without the employee's 個人番号); ``document`` is exactly what was signed.
    """

    __tablename__ = "lifeevent_employer_filings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    corporation_id: Mapped[str] = mapped_column(ForeignKey("identity_organizations.id"), index=True)
    employee_person_id: Mapped[str] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    applicant: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20))
    facts: Mapped[str] = mapped_column(Text)
    document: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(TZ)
    submitted_at: Mapped[datetime | None] = mapped_column(TZ)


class EmployerPart(Base):
    """One procedure of an employer filing and whether it could be submitted."""

    __tablename__ = "lifeevent_employer_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filing_id: Mapped[str] = mapped_column(ForeignKey("lifeevent_employer_filings.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    procedure_id: Mapped[str] = mapped_column(String(64))
    application_id: Mapped[str] = mapped_column(ID, index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_ja: Mapped[str | None] = mapped_column(Text)
    error_en: Mapped[str | None] = mapped_column(Text)
