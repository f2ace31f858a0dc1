"""What HR software sends for a hire or a leaver (the employer one-stop's input).

Only what the employer knows and the government does not: the employee's name,
birth date and address come from the registers, never from here; the employee's
個人番号 is never sent.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class SocialInsuranceOffice(BaseModel):
    """Where the employer files 健康保険・厚生年金保険 (its 年金事務所)."""

    pension_office_id: str = Field(description="the pension office (organization id)")
    office_code: str = Field(description="事業所整理記号・番号", pattern="^[0-9A-Za-z]{1,10}$")


class EmploymentInsuranceOffice(BaseModel):
    """Where the employer files 雇用保険 (its ハローワーク)."""

    employment_office_id: str = Field(description="the ハローワーク (organization id)")
    office_number: str = Field(description="雇用保険 事業所番号 (4-6-1)")


class HireFacts(BaseModel):
    """A new employee: the terms of employment decide which insurances apply."""

    employee_person_id: str = Field(description="the user ID the employee gave the employer")
    employee_birth_date: date = Field(
        description="as the employee declared it: checked against the person record"
    )
    hired_on: date
    weekly_hours: float = Field(ge=0, le=80, description="所定労働時間 per week")
    days_per_week: float = Field(default=5, ge=0, le=7)
    monthly_pay: int = Field(ge=0, le=100_000_000, description="報酬月額 (cash)")
    monthly_in_kind: int = Field(default=0, ge=0, le=100_000_000)
    wage_basis: Literal["月給", "週給", "日給", "時間給", "その他"] = "月給"
    employment_type: Literal[
        "正社員", "パートタイム", "有期契約労働者", "派遣", "季節的雇用", "その他"
    ]
    occupation: str = Field(min_length=1, max_length=100)
    fixed_term_until: date | None = None
    large_employer: bool = Field(
        default=False, description="特定適用事業所 (short-time workers are insured from 20 h)"
    )
    basic_pension_number: str | None = Field(default=None, pattern="^[0-9]{10}$")
    employment_insured_number: str | None = Field(default=None, description="被保険者番号 if any")
    new_graduate: bool = False
    social_insurance: SocialInsuranceOffice | None = None
    employment_insurance: EmploymentInsuranceOffice | None = None


class LeaveFacts(BaseModel):
    """An employee leaving: which enrolments to end and how the resident tax is collected."""

    employee_person_id: str = Field(description="the user ID the employee gave the employer")
    employee_birth_date: date = Field(
        description="as the employee declared it: checked against the person record"
    )
    left_on: date = Field(description="the last day of employment (離職日)")
    reason: Literal["退職等", "死亡", "その他"] = "退職等"
    employer_initiated: bool = Field(default=False, description="事業主の都合による離職")
    separation_notice: bool = Field(default=True, description="the employee wants a 離職票")
    basic_pension_number: str | None = Field(default=None, pattern="^[0-9]{10}$")
    employment_insured_number: str | None = None
    social_insurance: SocialInsuranceOffice | None = None
    employment_insurance: EmploymentInsuranceOffice | None = None
    resident_tax: ResidentTax | None = Field(
        default=None, description="present when the resident tax was deducted from pay"
    )


class ResidentTax(BaseModel):
    """特別徴収: how the rest of the year's resident tax is collected after leaving."""

    collection: Literal["普通徴収", "一括徴収", "新勤務先で特別徴収継続"]
    designation_number: str | None = Field(default=None, pattern="^[0-9A-Za-z-]{1,20}$")
    annual_tax: int | None = Field(default=None, ge=0, le=100_000_000)
    collected: int | None = Field(default=None, ge=0, le=100_000_000)
    new_employer: str | None = Field(default=None, max_length=200)


LeaveFacts.model_rebuild()
