"""HTML pages: the resident's proactive notices (one button to apply) and the child-allowance
calculator (the resident's household, and a public form for any birth dates)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tsunagu.core.clock import tokyo_today
from tsunagu.core.errors import TsunaguError
from tsunagu.core.i18n import N_, translate
from tsunagu.core.rendering import render, request_language, see_other
from tsunagu.core.web import DbSession
from tsunagu.identity.deps import csrf_for, require_person
from tsunagu.identity.roles import Actor
from tsunagu.lifeevent import allowance, proactive
from tsunagu.lifeevent.allowance import INCOMES
from tsunagu.lifeevent.proactive_api import form_url
from tsunagu.procedure.definitions import get_procedure
from tsunagu.procedure.rules import lookup

router = APIRouter(include_in_schema=False)
Resident = Annotated[Actor, Depends(require_person)]
CALCULATOR_ROWS = 6


@router.get("/me/notices", response_class=HTMLResponse)
def notices_page(request: Request, db: DbSession, actor: Resident) -> HTMLResponse:
    """The resident's notices: what is offered now, then what was done with earlier ones."""
    return render(
        request,
        "lifeevent/notices.html",
        {"notices": proactive.notices_of(db, actor), "rule_of": proactive.rule_of},
    )


def _prefilled(procedure_id: str | None, prefill: dict[str, Any], language: str) -> list[Any]:
    """(label, value) of each prefilled field, in the order the form asks them."""
    if procedure_id is None:
        return []
    fields = get_procedure(procedure_id).form.fields
    found = [(f.label.get(language), lookup(prefill, f.path)) for f in fields]
    return [(label, value) for label, value in found if value is not None]


@router.get("/me/notices/{notice_id}", response_class=HTMLResponse)
def notice_page(request: Request, notice_id: str, db: DbSession, actor: Resident) -> HTMLResponse:
    notice = proactive.get_notice(db, actor, notice_id)
    language = request_language(request)
    procedure = get_procedure(notice.procedure_id) if notice.procedure_id else None
    return render(
        request,
        "lifeevent/notice.html",
        {
            "notice": notice,
            "rule": proactive.rule_of(notice.rule_id),
            "procedure": procedure,
            "prefilled": _prefilled(notice.procedure_id, json.loads(notice.prefill), language),
            "form_url": form_url(notice.application_id) if notice.application_id else None,
            "csrf": csrf_for(request),
        },
    )


@router.post("/me/notices/{notice_id}/accept")
def accept_form(
    request: Request, notice_id: str, db: DbSession, actor: Resident
) -> RedirectResponse:
    """ボタン一つで申請: make the prefilled draft and go straight to its form."""
    application_id = proactive.accept(db, actor, notice_id)
    return see_other(request, form_url(application_id))


@router.post("/me/notices/{notice_id}/dismiss")
def dismiss_form(
    request: Request, notice_id: str, db: DbSession, actor: Resident
) -> RedirectResponse:
    proactive.dismiss(db, actor, notice_id)
    return see_other(request, "/me/notices?saved=dismissed")


def _day(raw: str | None, errors: dict[str, str], field: str, language: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[field] = translate(language, N_("Enter a date like 2025-04-01."))
        return None


def _result(
    children: list[allowance.ChildIn], day: date, income: str, errors: dict[str, str],
    language: str,
) -> allowance.HouseholdResult | None:  # fmt: skip
    try:
        return allowance.calculate(children, day, income=income)
    except TsunaguError as exc:
        errors["on"] = exc.message(language)
        return None


@router.get("/child-allowance", response_class=HTMLResponse)
def calculator_page(
    request: Request,
    on: Annotated[str | None, Query(max_length=10)] = None,
    income: Annotated[str, Query(max_length=20)] = "under_limit",
    birth_date: Annotated[list[str] | None, Query(max_length=CALCULATOR_ROWS)] = None,
) -> HTMLResponse:
    """Anyone: enter birth dates, see the monthly amount and why."""
    language = request_language(request)
    errors: dict[str, str] = {}
    entered = [(b or "").strip()[:10] for b in (birth_date or [])][:CALCULATOR_ROWS]
    rows = entered + [""] * (CALCULATOR_ROWS - len(entered))
    children = []
    for index, raw in enumerate(rows, start=1):
        born = _day(raw, errors, f"birth_date_{index}", language)
        if born is not None:
            children.append(allowance.ChildIn(born, str(index)))
    day = _day(on, errors, "on", language) or tokyo_today()
    income = income if income in INCOMES else "under_limit"
    result = _result(children, day, income, errors, language) if children and not errors else None
    return render(
        request,
        "lifeevent/calculator.html",
        {
            "rows": rows, "on": on or day.isoformat(), "income": income, "incomes": INCOMES,
            "errors": errors, "result": result, "asked": birth_date is not None,
        },
    )  # fmt: skip


@router.get("/me/child-allowance", response_class=HTMLResponse)
def my_allowance_page(
    request: Request,
    db: DbSession,
    actor: Resident,
    on: Annotated[str | None, Query(max_length=10)] = None,
    income: Annotated[str, Query(max_length=20)] = "under_limit",
) -> HTMLResponse:
    """The resident's household from the resident register, calculated for a month."""
    assert actor.person_id is not None
    language = request_language(request)
    errors: dict[str, str] = {}
    day = _day(on, errors, "on", language) or tokyo_today()
    income = income if income in INCOMES else "under_limit"
    children = allowance.household_children(db, actor.person_id, day)
    result = _result(children, day, income, errors, language)
    return render(
        request,
        "lifeevent/my_allowance.html",
        {"on": on or day.isoformat(), "income": income, "incomes": INCOMES, "errors": errors,
         "result": result},
    )  # fmt: skip
