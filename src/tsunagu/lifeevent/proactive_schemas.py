"""JSON shapes of proactive notices and of the child-allowance calculator."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tsunagu.lifeevent.allowance import MAX_CHILDREN


class NoticeOut(BaseModel):
    id: str
    rule_id: str
    name_ja: str
    name_en: str
    message_ja: str
    message_en: str
    about: str | None
    due_on: date | None
    status: str
    procedure_id: str | None
    prefill: dict[str, Any]
    application_id: str | None
    form_url: str | None
    created_at: datetime


class AcceptOut(BaseModel):
    application_id: str
    form_url: str


Income = Literal["under_limit", "above_limit", "above_upper_limit"]


class ChildIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    birth_date: date
    label: str = Field(default="", max_length=100)


class AllowanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: date | None = Field(default=None, description="a day of the month (default: today)")
    income: Income = "under_limit"
    children: list[ChildIn] = Field(max_length=MAX_CHILDREN)


class ChildOut(BaseModel):
    label: str
    birth_date: date
    age: int
    counted: bool
    birth_order: int | None
    eligible: bool
    band: str | None
    amount: int
    reason_ja: str
    reason_en: str


class AllowanceOut(BaseModel):
    month: date
    version_id: str
    version_valid_from: date
    version_name_ja: str
    version_name_en: str
    income: str
    monthly_total: int
    payment_months: list[int]
    per_payment: int
    children: list[ChildOut]
