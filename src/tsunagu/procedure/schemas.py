"""JSON shapes of the procedure API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class PartyIn(BaseModel):
    kind: Literal["person", "organization"]
    id: str = Field(max_length=36)


class ApplicationIn(BaseModel):
    form: dict[str, Any] = Field(default_factory=dict)
    on_behalf_of: PartyIn | None = None
    organization_id: str | None = Field(default=None, max_length=36)


class FormIn(BaseModel):
    form: dict[str, Any]


class SubmitIn(BaseModel):
    cms: str = Field(description="base64 detached CMS over the canonical JSON of `document`")


class AssignIn(BaseModel):
    official_id: str | None = Field(default=None, max_length=36)


class ReasonIn(BaseModel):
    reason: str = Field(max_length=4000)


class DecisionIn(BaseModel):
    approved: bool
    reason: str = Field(max_length=4000)
    # with an approval: what the procedure's review form asks (e.g. the care level)
    review: dict[str, Any] | None = None


class CommentIn(BaseModel):
    body: str = Field(max_length=4000)
    internal: bool = False


class CommentOut(BaseModel):
    id: int
    author: str
    internal: bool
    body: str
    created_at: datetime


class EvidenceOut(BaseModel):
    evidence_type: str
    outcome: str
    owner_id: str | None
    seal_serial: str | None
    records: list[dict[str, Any]]
    fetched_at: datetime


class ApplicationOut(BaseModel):
    id: str
    procedure_id: str
    status: str
    role: str
    applicant: str
    subject: PartyIn
    owner_id: str | None
    fee: int
    submitted_at: datetime | None
    due_on: date | None
    sla: str | None
    assigned_to: str | None
    decided_at: datetime | None
    automatic: bool
    decision_reason: str | None
    attachments_requested: int
    document: dict[str, Any]


class ApplicationDetail(ApplicationOut):
    evidence: list[EvidenceOut]


class ProcedureOut(BaseModel):
    id: str
    name_ja: str
    name_en: str
    category: str
    owner_kind: str
    legal_basis_ja: str
    legal_basis_en: str
    ial: int
    aal: int
    applicants: list[str]
    processing_days: int
    fee_paper: int
    fee_online: int
    attachments_eliminated: int
    automatic_rules: int


class ProcedureDetail(ProcedureOut):
    description_ja: str
    description_en: str
    form_schema: dict[str, Any]
    fields: list[dict[str, Any]]
    evidence: list[dict[str, Any]]


class ExemptionOut(BaseModel):
    id: str
    name_ja: str
    name_en: str


class PaymentOut(BaseModel):
    id: str
    provider: str
    status: str
    amount: int
    currency: str
    checkout_url: str
    created_at: datetime
    settled_at: datetime | None


class FeeOut(BaseModel):
    """The fee of an application: ``state`` none / exempt / unpaid / pending / paid."""

    application_id: str
    standard_fee: int
    fee: int
    state: str
    exemptions: list[ExemptionOut]
    exemption: ExemptionOut | None
    payment: PaymentOut | None
    receipt_number: str | None


class ExemptionIn(BaseModel):
    exemption_id: str = Field(max_length=64)


class PaymentStartIn(BaseModel):
    provider: Literal["sandbox"] = "sandbox"


class CallbackOut(BaseModel):
    outcome: str
    payment_id: str
    receipt_number: str | None
