"""The one table every registry shares: bitemporal record versions.

A row is "the register said ``data`` about this subject for the valid-time
interval [``valid_from``, ``valid_to``), from ``recorded_at`` until
``superseded_at``". Rows are never updated except to set ``superseded_at``
and never deleted except by the retention purge, so any past state of
knowledge can be reconstructed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime

CURRENT = text("superseded_at IS NULL")


class RegistryRecord(Base):
    __tablename__ = "registry_records"
    __table_args__ = (
        Index("ix_registry_records_identity", "registry_id", "subject_id", "record_key"),
        Index("ix_registry_records_keeper", "keeper_id", "registry_id"),
        Index("ix_registry_records_group", "keeper_id", "registry_id", "group_key"),
        # Two current versions of one record may never start on the same day;
        # this also stops two concurrent first writes of the same record.
        Index(
            "uq_registry_records_current_start",
            "registry_id",
            "subject_id",
            "record_key",
            "valid_from",
            unique=True,
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    registry_id: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[str] = mapped_column(String(64))
    record_key: Mapped[str] = mapped_column(String(100), default="")
    party_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # the definition's group field (e.g. 世帯番号), for finding the records that belong together
    group_key: Mapped[str | None] = mapped_column(String(100))
    keeper_id: Mapped[str] = mapped_column(ForeignKey("identity_organizations.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    data: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(500))


# The table itself: reads on the exchange's hot path are prebuilt Core statements.
RECORDS = cast(Table, RegistryRecord.__table__)
