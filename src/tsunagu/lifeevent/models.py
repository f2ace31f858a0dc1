"""Tables of the life-event module."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base

ID = String(36)
TZ = DateTime(timezone=True)


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
