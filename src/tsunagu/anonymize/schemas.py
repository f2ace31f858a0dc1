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
    """Record a release from a run of this official (the server's report, not a client's)."""

    run_id: str = Field(min_length=32, max_length=32)
    title: str = Field(min_length=1, max_length=300)
    publication: PublicationIn


class PublishIn(BaseModel):
    license_id: str = Field(default="cc-by-4.0", max_length=100)
    notes: str = Field(default="", max_length=5000, description="説明 / description")


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
    organization_id: str | None
    signer_serial: str | None
    signed_at: datetime | None
    package_id: str | None
    published_at: datetime | None
    creation_record: dict[str, Any]
    publication: dict[str, Any]


class VerificationOut(BaseModel):
    """Whether a release's seal signature holds over its record as stored now."""

    release_id: str
    valid: bool
    code: str
    message_ja: str
    message_en: str
    record_sha256: str | None = None
    signer_serial: str | None = None
    signer_organization_id: str | None = None
    time_stamp: datetime | None = None
