"""Release records of anonymized data: the 作成記録 and the 公表事項 of each release."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base


class AnonymizationRelease(Base):
    """One release. ``creation_record`` and ``publication`` hold the full JSON; the
    columns beside them repeat the figures people search and compare by."""

    __tablename__ = "anonymize_releases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    organization: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(30))
    achieved_k: Mapped[int] = mapped_column(Integer)
    achieved_l: Mapped[int | None] = mapped_column(Integer, nullable=True)
    achieved_t: Mapped[float | None] = mapped_column(Float, nullable=True)
    gcp: Mapped[float] = mapped_column(Float)
    input_rows: Mapped[int] = mapped_column(Integer)
    suppressed_rows: Mapped[int] = mapped_column(Integer)
    input_sha256: Mapped[str] = mapped_column(String(64))
    output_sha256: Mapped[str] = mapped_column(String(64), index=True)
    creation_record: Mapped[str] = mapped_column(Text)  # 作成記録 (JSON)
    publication: Mapped[str] = mapped_column(Text)  # 公表事項 (JSON)
    record_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # recorded → signed → published
