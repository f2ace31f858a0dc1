"""Official console (審査画面): the organization's queue and the review of one application.

Thin, like the API: every permission is checked by the service function a
page calls (``queue``, ``for_review``, ``assign`` …). Only reviewers of the
owning organization see anything; to anyone else who is logged in a page
answers exactly as for an application that does not exist (404), and a
visitor who is not logged in is sent to the login page. Each action posts a
CSRF-protected form, runs one service call and redirects back to the detail
page with a status message; a refusal (no reason given, not assigned, wrong
state) rolls the request back and shows the page again with the message in
the page's language and what was typed still in the form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from tsunagu.core.errors import PermissionDenied, TsunaguError, ValidationError
from tsunagu.core.i18n import N_, translate
from tsunagu.core.rendering import render, request_language
from tsunagu.core.web import DbSession
from tsunagu.exchange.definitions import evidence_types
from tsunagu.identity import service as identity
from tsunagu.identity.deps import CurrentActor, csrf_for
from tsunagu.identity.roles import Actor
from tsunagu.procedure import rules, service
from tsunagu.procedure.definitions import get_procedure, procedures
from tsunagu.procedure.models import Application
from tsunagu.procedure.notices import NoticeNotReady
from tsunagu.procedure.workflow import State
from tsunagu.registry import forms
from tsunagu.registry.definitions import get_registry

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
NO_STORE = {"Cache-Control": "no-store"}
STATUS_NAMES = {
    State.SUBMITTED: N_("Submitted"),
    State.IN_REVIEW: N_("In review"),
    State.RETURNED: N_("Returned for correction"),
    State.APPROVED: N_("Approved"),
    State.REJECTED: N_("Rejected"),
    State.WITHDRAWN: N_("Withdrawn"),
    State.DRAFT: N_("Draft"),
}
SLA_NAMES = {"overdue": N_("Overdue"), "due_today": N_("Due today"), "on_time": N_("On time")}
ROLE_NAMES = {
    "self": N_("The person themself"),
    "proxy": N_("Proxy with a power of attorney"),
    "household": N_("Member of the same household"),
    "representative": N_("Representative of the corporation"),
}
# Status messages after an action (the ``done`` query parameter of the detail page).
DONE = {
    "assigned": N_("The application was assigned."),
    "returned": N_("The application was returned to the applicant for correction."),
    "approved": N_("The application was approved; its signed decision notice follows shortly."),
    "rejected": N_("The application was rejected; its signed decision notice follows shortly."),
    "commented": N_("The comment was added."),
}
ACTIONS = {
    "procedure.drafted": N_("Draft created"),
    "procedure.submitted": N_("Submitted with signature; evidence fetched"),
    "procedure.assigned": N_("Assigned"),
    "procedure.returned": N_("Returned for correction"),
    "procedure.approved": N_("Approved"),
    "procedure.rejected": N_("Rejected"),
    "procedure.withdrawn": N_("Withdrawn"),
    "procedure.commented": N_("Comment added"),
    "procedure.notice_issued": N_("Decision notice issued"),
}


def _to_login(request: Request, back: str | None = None) -> RedirectResponse:
    """Where a visitor who is not logged in goes: the login page, then ``back`` (or here)."""
    return RedirectResponse(
        f"/login?{urlencode({'next': back or request.url.path})}", status_code=303
    )


def _detail_url(application_id: str, **query: str) -> str:
    return f"/console/applications/{application_id}" + (f"?{urlencode(query)}" if query else "")


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    response = render(
        request,
        template,
        {
            "csrf": csrf_for(request),
            "language": request_language(request),
            "status_names": STATUS_NAMES,
            "sla_names": SLA_NAMES,
            "role_names": ROLE_NAMES,
            **context,
        },
        status_code=status,
    )
    response.headers.update(NO_STORE)  # pages about persons are never cached
    return response


# --- the queue ---------------------------------------------------------------------------------


def _query(**values: str | int | None) -> str:
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


@router.get("/console/applications", response_class=HTMLResponse)
def queue_page(
    request: Request,
    db: DbSession,
    actor: CurrentActor,
    status: Annotated[str, Query(max_length=20)] = "",
    procedure: Annotated[str, Query(max_length=64)] = "",
    sla: Annotated[str, Query(max_length=20)] = "",
    assigned: Annotated[str, Query(max_length=20)] = "",
    order: Annotated[str, Query(max_length=4)] = "due",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Reviewers: their organization's applications, filtered, by due date, a page at a time."""
    if actor is None:
        return _to_login(request)
    filters = service.QueueFilter(status or None, procedure or None, sla or None, assigned or None)
    try:
        total = service.queue_size(db, actor, filters)
    except PermissionDenied:
        raise HTTPException(status_code=404) from None
    rows = service.queue(
        db, actor, filters, latest_due_first=order == "-due", limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )  # fmt: skip
    assert actor.organization_id is not None  # a reviewer (queue_size checked it)
    organization = identity.get_organization(db, actor.organization_id)
    names = _names(db, actor.organization_id)
    chosen = {"status": status, "procedure": procedure, "sla": sla, "assigned": assigned}
    return _page(
        request,
        "procedure/console_queue.html",
        {
            "organization": organization,
            "rows": [(app, service.sla_status(app), names.get(app.assigned_to)) for app in rows],
            "counts": service.queue_counts(db, actor),
            "procedures": [
                d for d in procedures().values() if d.owner.kind == organization.kind.value
            ],
            "all_procedures": procedures(),
            "chosen": chosen,
            "order": order,
            "total": total,
            "page": page,
            "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            "page_url": lambda n: "?" + _query(**chosen, order=order, page=n),
            "status_url": lambda s: "?" + _query(status=s),
        },
    )


def _names(db: Session, organization_id: str) -> dict[str | None, str]:
    """Display names of the organization's officials by id (ids are what applications keep)."""
    return {
        o.id: o.display_name for o in identity.list_officials(db, organization_id=organization_id)
    }


# --- the detail --------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _subject(db: Session, app: Application) -> str:
    if app.subject_kind == "person":
        person = identity.get_person(db, app.subject_id)
        kana = f"{person.family_name_kana} {person.given_name_kana}"
        return f"{person.family_name} {person.given_name}（{kana}）"
    return identity.get_organization(db, app.subject_id).name_ja


def _evidence(db: Session, app: Application, language: str) -> list[dict[str, Any]]:
    """What the registries answered at submission, with the registers' field titles."""
    types = evidence_types()
    shown = []
    for row in service.evidence_of(db, app.id):
        kind = types.get(row.evidence_type)
        fields = forms.fields_of(get_registry(kind.registry_id)) if kind else []
        shown.append(
            {
                "row": row,
                "name": kind.name.get(language) if kind else row.evidence_type,
                "keeper": identity.get_organization(db, row.owner_id).name_ja
                if row.owner_id
                else None,
                "records": [
                    (record, forms.displayed(fields, record.get("data") or {}))
                    for record in json.loads(row.records)
                ],
            }
        )
    return shown


def _who(app: Application, names: dict[str | None, str], language: str) -> Callable[[str], str]:
    """How the page names an actor label of the audit trail and the comments."""

    def name(label: str) -> str:
        kind, _, ident = label.partition(":")
        if label == app.applicant:
            return translate(language, N_("Applicant"))
        if label == service.SYSTEM:
            return translate(language, N_("Automatic decision rules"))
        return names.get(ident, label) if kind == "official" else label

    return name


def _detail(
    request: Request,
    db: Session,
    actor: Actor,
    app: Application,
    *,
    error: tuple[str, TsunaguError] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    language = request_language(request)
    definition = get_procedure(app.procedure_id)
    form = json.loads(app.form_data)
    assert app.owner_id is not None  # a reviewer of the owner is looking
    names = _names(db, app.owner_id)
    done = request.query_params.get("done")
    context = {
        "app": app,
        "definition": definition,
        "name": definition.name.get(language),
        "subject": _subject(db, app),
        "sla": service.sla_status(app),
        "assignee": names.get(app.assigned_to),
        "mine": app.assigned_to is not None and app.assigned_to == actor.official_id,
        "form_rows": [
            (f.label.get(language), f.path, _shown(rules.lookup(form, f.path)))
            for f in definition.form.fields
        ],
        "evidence": _evidence(db, app, language),
        "history": [(r, json.loads(r.data)) for r in service.history(db, actor, app.id)],
        "actions": ACTIONS,
        "comments": service.comments(db, actor, app.id),
        "who": _who(app, names, language),
        "reviewers": service.reviewers(db, actor, app.id),
        "me": actor.official_id,
        "decided": app.decided_at is not None,
        "notice_ready": _notice_ready(db, actor, app),
        "done": DONE.get(done) if done else None,
        "failed": error[0] if error else None,
        "error": error[1].message(language) if error else None,
        "values": values or {},
    }
    return _page(
        request,
        "procedure/console_detail.html",
        context,
        status=error[1].status_code if error else 200,
    )


def _notice_ready(db: Session, actor: Actor, app: Application) -> bool:
    """Whether the signed notice of a decision is out (the outbox issues it after the decision)."""
    if app.decided_at is None:
        return False
    try:
        service.decision(db, actor, app.id)
    except NoticeNotReady:
        return False
    return True


@router.get("/console/applications/{application_id}", response_class=HTMLResponse)
def detail_page(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """Reviewers of the owner: the application, its evidence, history, comments and actions."""
    if actor is None:
        return _to_login(request)
    return _detail(request, db, actor, service.for_review(db, actor, application_id))


# --- actions -----------------------------------------------------------------------------------


async def _act(
    request: Request,
    db: Session,
    actor: Actor | None,
    application_id: str,
    action: str,
    run: Callable[[Actor, dict[str, str]], Application | object],
    fields: tuple[str, ...],
) -> Response:
    """Run one service call with the posted ``fields``; redirect, or show the page again."""
    if actor is None:
        return _to_login(request, _detail_url(application_id))
    service.for_review(db, actor, application_id)  # the console is for the owner's reviewers
    posted = await request.form()
    values = {name: str(posted.get(name, "")) for name in fields}
    try:
        done = run(actor, values)
    except TsunaguError as refused:
        db.rollback()  # nothing of a refused action is kept, not even half of it
        app = service.for_review(db, actor, application_id)
        return _detail(request, db, actor, app, error=(action, refused), values=values)
    state = done.status if isinstance(done, Application) else None
    flash = {"approved": "approved", "rejected": "rejected"}.get(state or "", action)
    return RedirectResponse(_detail_url(application_id, done=flash), status_code=303)


@router.post("/console/applications/{application_id}/assign")
async def assign(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """Assign to oneself (default) or to another reviewer of the organization."""
    return await _act(
        request, db, actor, application_id, "assigned",
        lambda who, v: service.assign(db, who, application_id, v["official_id"] or None),
        ("official_id",),
    )  # fmt: skip


@router.post("/console/applications/{application_id}/return")
async def return_for_correction(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """補正: back to the applicant with the reasons (required)."""
    return await _act(
        request, db, actor, application_id, "returned",
        lambda who, v: service.return_for_correction(db, who, application_id, v["reason"]),
        ("reason",),
    )  # fmt: skip


def _decide(db: Session, application_id: str) -> Callable[..., Application]:
    def run(who: Actor, values: dict[str, str]) -> Application:
        if values["outcome"] not in ("approve", "reject"):
            raise ValidationError(
                "outcome_required",
                "承認するか却下するかを選んでください。",
                "Choose whether to approve or reject.",
            )
        approved = values["outcome"] == "approve"
        return service.decide(db, who, application_id, approved, values["reason"])

    return run


@router.post("/console/applications/{application_id}/decision")
async def decide(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """The assigned reviewer approves or rejects, with the reason the notice states."""
    run = _decide(db, application_id)
    return await _act(request, db, actor, application_id, "decided", run, ("outcome", "reason"))


@router.post("/console/applications/{application_id}/comments")
async def comment(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """A note to the applicant, or an internal one only the office's reviewers read."""
    return await _act(
        request, db, actor, application_id, "commented",
        lambda who, v: service.comment(
            db, who, application_id, v["body"], internal=v["to_applicant"] != "1"
        ),
        ("body", "to_applicant"),
    )  # fmt: skip
