"""Release records of anonymized data: the 作成記録 and the 公表事項 of each release,
the organization's seal signature over them, and where the release was published."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime


class AnonymizationRelease(Base):
    """One release. ``creation_record`` and ``publication`` hold the full JSON; the
    columns beside them repeat the figures people search and compare by."""

    __tablename__ = "anonymize_releases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    organization: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
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
    # The identity organization the release is made by (its officials manage it; its seal signs).
    organization_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # Detached CMS (CAdES-T: with the platform's time-stamp) over ``to_be_signed``.
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    signer_serial: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    signed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    package_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    published_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
