"""JSON API of proactive notices (the resident's own) and of the child-allowance calculator.

Thin: parse, call :mod:`proactive` / :mod:`allowance` (which check whose notice it is),
shape the answer. Another resident's notice is "not found", never "forbidden".
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tsunagu.core.clock import tokyo_today
from tsunagu.core.web import DbSession
from tsunagu.identity.deps import require_person
from tsunagu.identity.roles import Actor
from tsunagu.lifeevent import allowance, proactive
from tsunagu.lifeevent.models import ProactiveNotice
from tsunagu.lifeevent.proactive_schemas import (
    AcceptOut,
    AllowanceIn,
    AllowanceOut,
    ChildOut,
    Income,
    NoticeOut,
)

router = APIRouter(tags=["lifeevent"])
Resident = Annotated[Actor, Depends(require_person)]


def form_url(application_id: str) -> str:
    """Where the draft's form is filled in (the procedure module's page)."""
    return f"/applications/{application_id}/form"


def notice_out(notice: ProactiveNotice) -> NoticeOut:
    rule = proactive.rule_of(notice.rule_id)
    return NoticeOut(
        id=notice.id,
        rule_id=notice.rule_id,
        name_ja=rule.name.ja if rule else notice.rule_id,
        name_en=rule.name.en if rule else notice.rule_id,
        message_ja=rule.message.ja if rule else "",
        message_en=rule.message.en if rule else "",
        about=notice.about,
        due_on=notice.due_on,
        status=notice.status,
        procedure_id=notice.procedure_id,
        prefill=json.loads(notice.prefill),
        application_id=notice.application_id,
        form_url=form_url(notice.application_id) if notice.application_id else None,
        created_at=notice.created_at,
    )


@router.get("/api/me/notices", response_model=list[NoticeOut])
def my_notices(db: DbSession, actor: Resident) -> list[NoticeOut]:
    """The resident's proactive notices, open offers first."""
    return [notice_out(n) for n in proactive.notices_of(db, actor)]


@router.get("/api/me/notices/{notice_id}", response_model=NoticeOut)
def my_notice(notice_id: str, db: DbSession, actor: Resident) -> NoticeOut:
    return notice_out(proactive.get_notice(db, actor, notice_id))


@router.post("/api/me/notices/{notice_id}/accept", response_model=AcceptOut)
def accept(notice_id: str, db: DbSession, actor: Resident) -> AcceptOut:
    """ボタン一つで申請: the prefilled draft of the offered procedure, in the resident's name."""
    application_id = proactive.accept(db, actor, notice_id)
    return AcceptOut(application_id=application_id, form_url=form_url(application_id))


@router.post("/api/me/notices/{notice_id}/dismiss", response_model=NoticeOut)
def dismiss(notice_id: str, db: DbSession, actor: Resident) -> NoticeOut:
    return notice_out(proactive.dismiss(db, actor, notice_id))


def allowance_out(result: allowance.HouseholdResult) -> AllowanceOut:
    return AllowanceOut(
        month=result.month,
        version_id=result.version.id,
        version_valid_from=result.version.valid_from,
        version_name_ja=result.version.name.ja,
        version_name_en=result.version.name.en,
        income=result.income,
        monthly_total=result.monthly_total,
        payment_months=list(result.payment_months),
        per_payment=result.per_payment,
        children=[
            ChildOut(
                label=c.label, birth_date=c.birth_date, age=c.age, counted=c.counted,
                birth_order=c.birth_order, eligible=c.eligible,
                band=c.band.id if c.band else None, amount=c.amount,
                reason_ja=c.reason.ja, reason_en=c.reason.en,
            )
            for c in result.children
        ],
    )  # fmt: skip


@router.post("/api/child-allowance", response_model=AllowanceOut)
def calculate(body: AllowanceIn) -> AllowanceOut:
    """Anyone: the monthly 児童手当 for children with these birth dates, with its reasoning."""
    children = [allowance.ChildIn(c.birth_date, c.label) for c in body.children]
    return allowance_out(
        allowance.calculate(children, body.on or tokyo_today(), income=body.income)
    )


@router.get("/api/me/child-allowance", response_model=AllowanceOut)
def my_allowance(
    db: DbSession,
    actor: Resident,
    on: Annotated[date | None, Query()] = None,
    income: Income = "under_limit",
) -> AllowanceOut:
    """The allowance for the children of the resident's household in the resident register."""
    assert actor.person_id is not None
    day = on or tokyo_today()
    children = allowance.household_children(db, actor.person_id, day)
    return allowance_out(allowance.calculate(children, day, income=income))
