"""Input and output shapes of the anonymization API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class PublicationIn(BaseModel):
    """公表事項: what the public is told about an anonymized release."""

    categories: list[str] | None = Field(
        default=None,
        description="個人に関する情報の項目 / categories of personal information included "
        "(default: the released columns)",
    )
    provision_method: str = Field(
        min_length=1, max_length=2000, description="提供の方法 / how the data are provided"
    )


class ReleaseIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    organization: str = Field(min_length=1, max_length=300)
    publication: PublicationIn
    report: dict[str, Any]


class ReleaseOut(BaseModel):
    id: str
    title: str
    organization: str
    created_at: datetime
    created_by: str
    method: str
    achieved_k: int
    achieved_l: int | None
    achieved_t: float | None
    gcp: float
    input_rows: int
    suppressed_rows: int
    input_sha256: str
    output_sha256: str
    record_sha256: str
    status: str
    creation_record: dict[str, Any]
    publication: dict[str, Any]
