"""HTML pages of the exchange: the resident's access log; for officials the matrix, the
organization's subscriptions to change notifications and its inbox."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tsunagu.core.errors import PermissionDenied, TsunaguError
from tsunagu.core.i18n import N_, translate
from tsunagu.core.rendering import render, request_language
from tsunagu.core.web import DbSession
from tsunagu.exchange import accesslog, notifications
from tsunagu.exchange.definitions import evidence_types, matrix
from tsunagu.identity import service as identity
from tsunagu.identity.deps import csrf_for, require_official, require_person
from tsunagu.identity.roles import Actor
from tsunagu.identity.schemas import OfficialRole
from tsunagu.registry import forms
from tsunagu.registry.definitions import get_registry

router = APIRouter(include_in_schema=False)


@router.get("/me/access-log", response_class=HTMLResponse)
def access_log_page(
    request: Request,
    session: DbSession,
    actor: Annotated[Actor, Depends(require_person)],
    agency: Annotated[str | None, Query(max_length=64)] = None,
    since: date | None = None,
    until: date | None = None,
) -> HTMLResponse:
    assert actor.person_id is not None
    language = request_language(request)
    every = accesslog.describe(session, accesslog.entries_for(session, actor.person_id), language)
    agencies = sorted({(e["agency_id"], e["agency"]) for e in every if e["agency_id"]})
    filters: dict[str, Any] = {"agency": agency or None, "since": since, "until": until}
    entries = accesslog.describe(
        session, accesslog.entries_for(session, actor.person_id, **filters), language
    )
    query = urlencode({k: str(v) for k, v in filters.items() if v})
    return render(
        request,
        "exchange/access_log.html",
        {
            "entries": entries,
            "agencies": agencies,
            "filters": filters,
            "query": f"?{query}" if query else "",
        },
    )


@router.get("/exchange/matrix", response_class=HTMLResponse)
def matrix_page(
    request: Request,
    actor: Annotated[Actor, Depends(require_official(OfficialRole.ADMINISTRATOR))],
) -> HTMLResponse:
    """The legal-basis matrix as administrators review it."""
    return render(
        request,
        "exchange/matrix.html",
        {"matrix": matrix(), "evidence": evidence_types(), "language": request_language(request)},
    )


# --- subscriptions to change notifications (an organization's administrators) ---------------

Administrator = Annotated[Actor, Depends(require_official(OfficialRole.ADMINISTRATOR))]
# Events every registry offers; the packs name their own (a death, a move out …).
BUILTIN_EVENT_NAMES = {
    "created": N_("record created"),
    "changed": N_("record changed"),
    "corrected": N_("record corrected"),
    "retracted": N_("record retracted"),
}


def _administered(actor: Actor) -> str:
    if actor.organization_id is None:
        raise PermissionDenied(
            "no_organization", "所属組織がありません。", "The official belongs to no organization."
        )
    return actor.organization_id


def event_name(registry_id: str, event_id: str, language: str) -> str:
    rule = get_registry(registry_id).event(event_id)
    if rule is not None:
        return rule.name.get(language)
    return translate(language, BUILTIN_EVENT_NAMES.get(event_id, event_id))


def _subscriptions_page(
    request: Request, session: Session, organization: str, *, error: TsunaguError | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    language = request_language(request)
    subscriptions = notifications.subscriptions_of(session, organization)
    bases = notifications.bases_for(session, organization)
    active = {(s.basis_id, s.event_id) for s in subscriptions if s.ended_at is None}
    return render(
        request,
        "exchange/subscriptions.html",
        {
            "language": language,
            "organization": identity.get_organization(session, organization),
            "subscriptions": subscriptions,
            "bases": bases,
            "active": active,
            "registry_name": lambda registry_id: get_registry(registry_id).name.get(language),
            "event_name": lambda registry_id, event_id: event_name(registry_id, event_id, language),
            "csrf": csrf_for(request),
            "error": error.message(language) if error else None,
            "saved": request.query_params.get("saved"),
        },
        status_code=status_code,
    )


@router.get("/exchange/subscriptions", response_class=HTMLResponse)
def subscriptions_page(request: Request, session: DbSession, actor: Administrator) -> HTMLResponse:
    """The organization's subscriptions and the notifications it may subscribe to."""
    return _subscriptions_page(request, session, _administered(actor))


@router.post("/exchange/subscriptions", response_class=HTMLResponse)
async def subscribe_form(request: Request, session: DbSession, actor: Administrator) -> Response:
    organization = _administered(actor)
    form = await request.form()
    try:
        notifications.subscribe(
            session, subscriber_id=organization, basis_id=str(form.get("basis_id", "")),
            event_id=str(form.get("event_id", "")), actor=actor.label,
        )  # fmt: skip
    except TsunaguError as error:
        return _subscriptions_page(
            request, session, organization, error=error, status_code=error.status_code
        )
    return RedirectResponse("/exchange/subscriptions?saved=subscribed", status_code=303)


@router.post("/exchange/subscriptions/{subscription_id}/end", response_class=HTMLResponse)
def end_subscription_form(
    subscription_id: str, session: DbSession, actor: Administrator
) -> Response:
    notifications.end_subscription(
        session, subscription_id, subscriber_id=_administered(actor), actor=actor.label
    )
    return RedirectResponse("/exchange/subscriptions?saved=ended", status_code=303)


def _displayed(registry_id: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    return forms.displayed(forms.fields_of(get_registry(registry_id)), data)


@router.get("/exchange/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request, session: DbSession, actor: Annotated[Actor, Depends(require_official())]
) -> HTMLResponse:
    """Notifications delivered to the official's organization (seals verified on receipt)."""
    language = request_language(request)
    organization = _administered(actor)
    return render(
        request,
        "exchange/inbox.html",
        {
            "language": language,
            "items": [
                (item, _displayed(item.registry_id, item.message.get("data") or {}))
                for item in notifications.inbox(session, organization)
            ],
            "registry_name": lambda registry_id: get_registry(registry_id).name.get(language),
            "event_name": lambda registry_id, event_id: event_name(registry_id, event_id, language),
            "publisher": lambda org_id: identity.get_organization(session, org_id).name_ja,
        },
    )
