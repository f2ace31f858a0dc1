"""Audit tables: the chained records and the published daily roots."""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Date,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime


class AuditRecord(Base):
    """One entry: ``seq`` orders the whole trail, ``prev_hash`` links it within its ``chain``.

    ``(chain, prev_hash)`` is unique, so no chain can ever fork. Only what the trail is read
    by is indexed (seq, chain, day, object): every index costs each of the many writes.
    """

    __tablename__ = "audit_records"
    __table_args__ = (
        UniqueConstraint("chain", "prev_hash", name="uq_audit_records_chain_prev_hash"),
        Index("ix_audit_records_chain_seq", "chain", "seq"),
        # An object's history (records_of) without scanning the whole trail.
        Index("ix_audit_records_object", "object_type", "object_id"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    chain: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    day: Mapped[date] = mapped_column(Date, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


AUDIT_RECORDS = cast(Table, AuditRecord.__table__)


class AuditDailyRoot(Base):
    """Merkle root of one closed day (Asia/Tokyo), frozen once published."""

    __tablename__ = "audit_daily_roots"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    root: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int] = mapped_column(Integer)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
