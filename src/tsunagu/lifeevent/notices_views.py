"""HTML pages of private-sector notices.

- ``/me/life-notices``: the resident chooses, per company and event, whether the
  company is told and which of the fields it asks for; sees every delivery.
- ``/lifeevent/subscribers``: a company's administrator (or business member)
  registers its webhook, sees deliveries to it and replays dead-lettered ones.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from tsunagu.core.errors import TsunaguError
from tsunagu.core.i18n import N_, translate
from tsunagu.core.rendering import render, request_language, see_other
from tsunagu.core.web import DbSession
from tsunagu.identity.deps import csrf_for, require_login, require_person, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.lifeevent import notices

router = APIRouter(include_in_schema=False)

Caller = Annotated[Actor, Depends(require_login)]
Resident = Annotated[Actor, Depends(require_person)]
RESIDENT_PAGE = "/me/life-notices"
COMPANY_PAGE = "/lifeevent/subscribers"
STATUS_NAMES = {
    notices.PENDING: N_("Waiting to be sent"),
    notices.FAILED: N_("Failed, will be retried"),
    notices.DELIVERED: N_("Delivered"),
    notices.DEAD: N_("Given up (the company can resend)"),
    notices.CANCELLED: N_("Cancelled (consent withdrawn)"),
}


def _names(language: str) -> dict[str, Any]:
    """Labels of events, fields, sectors and statuses in the page's language."""

    def names(table: dict[str, str]) -> dict[str, str]:
        return {key: translate(language, message) for key, message in table.items()}

    return {
        "event_names": names(notices.EVENTS),
        "field_names": names(notices.FIELDS),
        "sector_names": names(notices.SECTORS),
        "status_names": names(STATUS_NAMES),
    }


# --- the resident's choices ----------------------------------------------------------------


def _resident_page(
    request: Request, session: Session, actor: Actor, *, error: TsunaguError | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    assert actor.person_id is not None
    language = request_language(request)
    consents = {
        (c.subscriber_id, c.event): c for c in notices.consents_of(session, actor.person_id)
    }
    return render(
        request,
        "lifeevent/life_notices.html",
        {
            **_names(language),
            "subscribers": notices.public_subscribers(session),
            "consents": consents,
            "deliveries": notices.deliveries_of_person(session, actor.person_id),
            "csrf": csrf_for(request),
            "error": error.message(language) if error else None,
            "saved": request.query_params.get("saved"),
        },
        status_code=status_code,
    )


@router.get(RESIDENT_PAGE, response_class=HTMLResponse)
def life_notices_page(request: Request, session: DbSession, actor: Resident) -> HTMLResponse:
    return _resident_page(request, session, actor)


@router.post(f"{RESIDENT_PAGE}/consents", response_class=HTMLResponse)
async def consent_form(request: Request, session: DbSession, actor: Resident) -> Response:
    form = await request.form()
    try:
        notices.give_consent(
            session, actor, subscriber_id=str(form.get("subscriber_id", "")),
            event=str(form.get("event", "")), fields=[str(f) for f in form.getlist("fields")],
        )  # fmt: skip
    except TsunaguError as error:
        session.rollback()
        return _resident_page(request, session, actor, error=error, status_code=error.status_code)
    return see_other(request, f"{RESIDENT_PAGE}?saved=given")


@router.post(f"{RESIDENT_PAGE}/consents/{{consent_id}}/withdraw", response_class=HTMLResponse)
def withdraw_form(
    request: Request, consent_id: str, session: DbSession, actor: Resident
) -> Response:
    notices.withdraw_consent(session, actor, consent_id)
    return see_other(request, f"{RESIDENT_PAGE}?saved=withdrawn")


# --- the company's registration and deliveries ---------------------------------------------


def _company_page(
    request: Request, session: Session, actor: Actor, *, error: TsunaguError | None = None,
    secret: str | None = None, form: dict[str, Any] | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    language = request_language(request)
    subscribers = notices.subscribers_of(session, actor)
    return render(
        request,
        "lifeevent/subscribers.html",
        {
            **_names(language),
            "event_fields": notices.EVENT_FIELDS,
            "subscribers": [(s, notices.deliveries_to(session, actor, s.id)) for s in subscribers],
            "csrf": csrf_for(request),
            "error": error.message(language) if error else None,
            "secret": secret,
            "form": form or {},
            "saved": request.query_params.get("saved"),
        },
        status_code=status_code,
    )


@router.get(COMPANY_PAGE, response_class=HTMLResponse)
def subscribers_page(request: Request, session: DbSession, actor: Caller) -> HTMLResponse:
    return _company_page(request, session, actor)


@router.post(COMPANY_PAGE, response_class=HTMLResponse)
async def register_form(request: Request, session: DbSession, actor: Caller) -> Response:
    notices.acting_for(session, actor)  # 403 before reading anything else
    form = await request.form()
    declared: dict[str, list[str]] = {}
    for event in notices.EVENT_FIELDS:
        chosen = [str(f) for f in form.getlist(f"fields_{event}")]
        if chosen:
            declared[event] = chosen
    entered: dict[str, Any] = {
        "corporate_number": str(form.get("corporate_number", "")),
        "sector": str(form.get("sector", "")),
        "webhook_url": str(form.get("webhook_url", "")),
        "declared": declared,
    }
    try:
        registered = notices.register_subscriber(
            session, settings_of(request), actor, corporate_number=entered["corporate_number"],
            sector=entered["sector"], webhook_url=entered["webhook_url"], declared=declared,
        )  # fmt: skip
    except TsunaguError as error:
        session.rollback()
        return _company_page(
            request, session, actor, error=error, form=entered, status_code=error.status_code
        )
    return _company_page(request, session, actor, secret=registered.secret)


@router.post("/lifeevent/deliveries/{delivery_id}/replay", response_class=HTMLResponse)
def replay_form(request: Request, delivery_id: str, session: DbSession, actor: Caller) -> Response:
    notices.replay(session, actor, delivery_id)
    return see_other(request, f"{COMPANY_PAGE}?saved=replayed")
