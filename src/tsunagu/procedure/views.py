"""Pages of the procedure module: the public catalog and inventory, and the resident's way
from "apply online" to the decision.

Thin, like the API: every permission is checked by the service function a
page calls (``create``, ``editable``, ``get``, ``submit``, ``withdraw``), so
another resident's application is "not found" here exactly as in the API.
Pages work without JavaScript, except that this browser's card signs the
application (``/static/wallet.js``); a signature made with the Python wallet
can be uploaded instead. Every form carries the CSRF token that
``current_session`` checks.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from tsunagu.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDenied,
    TsunaguError,
    ValidationError,
)
from tsunagu.core.rendering import render, request_language, see_other
from tsunagu.core.web import DbSession
from tsunagu.exchange import sealing
from tsunagu.exchange.definitions import EvidenceType, evidence_types
from tsunagu.identity import delegation
from tsunagu.identity import service as identity
from tsunagu.identity.deps import CurrentActor, login_redirect, private_page, settings_of
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.procedure import fees, forms, inventory, service, uploads
from tsunagu.procedure.definitions import ProcedureDefinition, get_procedure, procedures
from tsunagu.procedure.models import Application, ApplicationEvidence, ApplicationUpload
from tsunagu.procedure.workflow import OPEN, State
from tsunagu.registry.definitions import Names
from tsunagu.registry.validation import FieldError
from tsunagu.trust import protocol

router = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
MAX_SIGNATURE = 256 * 1024
EDITABLE = (State.DRAFT.value, State.RETURNED.value)
FILE_PREFIX = "file."  # the file input of an upload field (its id travels as f.<path>)


def _message(request: Request, error: TsunaguError) -> str:
    return error.message(request_language(request))


# --- public: catalog, inventory, one procedure ------------------------------------------------


@router.get("/procedures", response_class=HTMLResponse)
def catalog_page(request: Request) -> HTMLResponse:
    """Anyone: every procedure that can be completed online, by category."""
    return render(request, "procedure/catalog.html", {"procedures": list(procedures().values())})


@router.get("/procedures/inventory", response_class=HTMLResponse)
def inventory_page(request: Request, db: DbSession) -> HTMLResponse:
    """Anyone: every procedure with its owner, legal basis and live figures."""
    return render(request, "procedure/inventory.html", {"rows": inventory.inventory(db)})


def _principals(db: Session, actor: Actor | None, procedure_id: str) -> list[tuple[str, str]]:
    """(id, name) of the persons whose valid power of attorney lets ``actor`` file this."""
    if actor is None or actor.kind is not ActorKind.PERSON:
        return []
    found = []
    for row in delegation.mine(db, actor):
        shown = delegation.view(row)
        if (
            row.agent_person_id == actor.person_id
            and row.principal_person_id is not None
            and shown["status"] == "valid"
            and procedure_id in shown["procedures"]
        ):
            person = identity.get_person(db, row.principal_person_id)
            found.append((person.id, f"{person.family_name} {person.given_name}"))
    return found


def _no_attachments(definition: ProcedureDefinition) -> list[tuple[EvidenceType, list[Names]]]:
    """Each evidence type the procedure fetches, once, with every attachment it does away with.

    A type can be fetched by several needs (the 死亡届 reads 国保 about the deceased and again
    about each remaining member); the applicant sees one line for it.
    """
    replaced: dict[str, list[Names]] = {}
    for need in definition.evidence:
        replaced.setdefault(need.type_id, []).append(need.replaces)
    types = evidence_types()
    return [(types[type_id], texts) for type_id, texts in replaced.items()]


# what the applicant is told of a type fetched several times: that the office may ask for the
# paper, else that it was obtained, else that no register holds it
SHOWN_FIRST = ("not_consented", "provided", "not_found")


def _obtained(rows: list[ApplicationEvidence]) -> list[tuple[EvidenceType, str]]:
    """Each evidence type once with the outcome that matters to the applicant, however many
    persons it was fetched about (the per-person answers are the office's, in the console)."""
    outcomes: dict[str, set[str]] = {}
    for row in rows:
        outcomes.setdefault(row.evidence_type, set()).add(row.outcome)
    types = evidence_types()
    return [
        (types[type_id], min(found, key=SHOWN_FIRST.index)) for type_id, found in outcomes.items()
    ]


def _procedure_page(
    request: Request,
    db: Session,
    actor: Actor | None,
    definition: ProcedureDefinition,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return private_page(
        request,
        "procedure/procedure.html",
        {
            "definition": definition,
            "evidence": _no_attachments(definition),
            "logged_in": actor is not None,
            "principals": _principals(db, actor, definition.id),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/procedures/{procedure_id}", response_class=HTMLResponse)
def procedure_page(
    request: Request, procedure_id: str, db: DbSession, actor: CurrentActor
) -> HTMLResponse:
    """Anyone: what the procedure is, what is not needed any more, and "apply online"."""
    return _procedure_page(request, db, actor, get_procedure(procedure_id))


@router.post("/procedures/{procedure_id}/apply")
async def apply(
    request: Request, procedure_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """A logged-in person: a draft for themself, for a principal (power of attorney) or a
    member of their household, with what the registers hold about that person filled in."""
    if actor is None:
        return login_redirect(request)
    definition = get_procedure(procedure_id)
    posted = await request.form()
    chosen = str(posted.get("subject") or "self")
    if chosen == "other":
        chosen = str(posted.get("subject_id") or "").strip()
    party = None if chosen in ("self", "") else service.Party("person", chosen[:64])
    try:
        app = service.create(db, actor, procedure_id, {}, on_behalf_of=party)
    except (ValidationError, PermissionDenied) as exc:
        db.rollback()
        status = 403 if isinstance(exc, PermissionDenied) else 422
        return _procedure_page(
            request, db, actor, definition, error=_message(request, exc), status_code=status
        )
    prefilled = forms.prefilled(forms.controls(db, definition, app.subject_id))
    if prefilled:
        service.update(db, actor, app.id, prefilled)
    return see_other(request, f"/applications/{app.id}/form")


# --- the form ----------------------------------------------------------------------------------


def _form_page(
    request: Request,
    db: Session,
    actor: Actor,
    app: Application,
    definition: ProcedureDefinition,
    *,
    items: list[forms.Control],
    values: dict[str, str],
    errors: list[FieldError] = (),  # type: ignore[assignment]
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    language = request_language(request)
    messages = {e.path: (e.message_en if language == "en" else e.message_ja) for e in errors}
    return private_page(
        request,
        "procedure/form.html",
        {
            "app": app,
            "definition": definition,
            "controls": items,
            "values": values,
            "files": _files(db, app, items, values),
            "errors": messages,
            "saved": saved,
            "known": forms.known_facts(db, definition, app.subject_id, language),
            "comments": service.comments(db, actor, app.id),
        },
        status_code=status_code,
    )


@router.get("/applications/{application_id}/form", response_class=HTMLResponse)
def form_page(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """The filer: the form of a draft or of an application returned for correction."""
    if actor is None:
        return login_redirect(request)
    app, definition = service.editable(db, actor, application_id)
    items = forms.controls(db, definition, app.subject_id)
    values = forms.shown_values(items, json.loads(app.form_data))
    saved = request.query_params.get("saved") == "1"
    return _form_page(request, db, actor, app, definition, items=items, values=values, saved=saved)


@router.post("/applications/{application_id}/form", response_class=HTMLResponse)
async def form_post(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """Save the draft, or check it against the schema and go on to the review."""
    if actor is None:
        return login_redirect(request)
    posted = await request.form()
    app, definition = service.editable(db, actor, application_id)
    items = forms.controls(db, definition, app.subject_id)
    values = forms.submitted_values(items, posted)
    refused = await _take_uploads(request, db, actor, app, items, posted, values)
    record, unreadable = forms.parse(definition, items, values, json.loads(app.form_data))
    going_on = posted.get("action") == "next"
    errors = refused + unreadable + (service.form_errors(definition, record) if going_on else [])
    if errors:
        reworded = forms.reworded(items, errors)
        return _form_page(
            request, db, actor, app, definition, items=items, values=values, errors=reworded,
            status_code=422,
        )  # fmt: skip
    service.update(db, actor, app.id, record)
    if going_on:
        return see_other(request, f"/applications/{app.id}/review")
    return see_other(request, f"/applications/{app.id}/form?saved=1")


async def _take_uploads(
    request: Request,
    db: Session,
    actor: Actor,
    app: Application,
    items: list[forms.Control],
    posted: Any,
    values: dict[str, str],
) -> list[FieldError]:
    """Store the files sent with the form; each upload field then holds its file's id.

    A field keeps the file uploaded earlier (its id comes back in a hidden
    input) unless a new one is sent; an id that is not one of this
    application's uploads is dropped.
    """
    settings = settings_of(request)
    refused = []
    for control in items:
        sent = posted.get(FILE_PREFIX + control.path)
        if control.kind != "upload" or not isinstance(sent, UploadFile) or not sent.filename:
            continue
        data = await sent.read(settings.upload_max_bytes + 1)
        try:
            row = uploads.store(db, settings, actor, app.id, control.path, sent.filename, data)
        except ValidationError as exc:
            refused.append(FieldError(control.path, "upload", exc.message_ja, exc.message_en))
            continue
        values[control.path] = row.id
    kept = _files(db, app, items, values)
    for control in items:
        if control.kind == "upload" and values[control.path] not in kept:
            values[control.path] = ""
    return refused


def _files(
    db: Session, app: Application, items: list[forms.Control], values: dict[str, str]
) -> dict[str, ApplicationUpload]:
    ids = {values[c.path] for c in items if c.kind == "upload" and values.get(c.path)}
    return uploads.of_application(db, app.id, ids)


@router.get("/applications/{application_id}/uploads/{upload_id}")
def upload_file(
    request: Request, application_id: str, upload_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """Whoever may read the application: one uploaded file, as a download."""
    if actor is None:
        return login_redirect(request)
    row = uploads.get(db, actor, application_id, upload_id)
    extension = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}
    name = f"upload-{row.id}{extension.get(row.content_type, '')}"
    return Response(
        uploads.content(settings_of(request), row),
        media_type=row.content_type,
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "x-content-type-options": "nosniff",
            **NO_STORE,
        },
    )


# --- review and signature ----------------------------------------------------------------------


def _summary(
    db: Session, app: Application, definition: ProcedureDefinition, language: str
) -> dict[str, Any]:
    """What the applicant is about to sign, in the page's language."""
    items = forms.controls(db, definition, app.subject_id)
    values = forms.shown_values(items, json.loads(app.form_data))
    return {
        "app": app,
        "definition": definition,
        "answers": [(c, values[c.path]) for c in items],
        "files": _files(db, app, items, values),
        "known": forms.known_facts(db, definition, app.subject_id, language),
        "evidence": _no_attachments(definition),
        "fee": fees.fee_status(db, app),
    }


def _ready(
    request: Request, db: Session, actor: Actor, application_id: str
) -> tuple[Application, ProcedureDefinition] | RedirectResponse:
    """The application when its form is complete; otherwise back to the form to fix it."""
    app, definition = service.editable(db, actor, application_id)
    if service.form_errors(definition, json.loads(app.form_data)):
        return see_other(request, f"/applications/{app.id}/form")
    return app, definition


@router.get("/applications/{application_id}/review", response_class=HTMLResponse)
def review_page(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """The filer: everything that will be signed, and the way on to the signature."""
    if actor is None:
        return login_redirect(request)
    ready = _ready(request, db, actor, application_id)
    if isinstance(ready, RedirectResponse):
        return ready
    app, definition = ready
    summary = _summary(db, app, definition, request_language(request))
    return private_page(request, "procedure/review.html", summary)


def _sign_page(
    request: Request,
    db: Session,
    app: Application,
    definition: ProcedureDefinition,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    content = protocol.canonical_json(service.document(app))
    return private_page(
        request,
        "procedure/sign.html",
        {
            **_summary(db, app, definition, request_language(request)),
            "document_b64": protocol.b64(content),
            "document_text": content.decode("utf-8"),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/applications/{application_id}/sign", response_class=HTMLResponse)
def sign_page(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """The filer: sign the application document with the wallet and submit it."""
    if actor is None:
        return login_redirect(request)
    ready = _ready(request, db, actor, application_id)
    if isinstance(ready, RedirectResponse):
        return ready
    return _sign_page(request, db, *ready)


async def _signature(posted: Any) -> bytes:
    """The CMS from this browser's card (Base64 field) or an uploaded .p7s file."""
    text = posted.get("cms")
    if isinstance(text, str) and text.strip():
        return protocol.unb64(text.strip(), what="cms")
    upload = posted.get("cms_file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_SIGNATURE + 1)
        if 0 < len(data) <= MAX_SIGNATURE:
            return data
    raise ValidationError(
        "signature_missing",
        "電子署名がありません。この画面で署名するか、署名ファイル (.p7s) を選んでください。",
        "There is no signature. Sign on this page, or choose a signature file (.p7s).",
    )


@router.post("/applications/{application_id}/sign", response_class=HTMLResponse)
async def sign_post(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """Verify the signature over the application document, fetch the evidence, submit."""
    if actor is None:
        return login_redirect(request)
    posted = await request.form()
    ready = _ready(request, db, actor, application_id)
    if isinstance(ready, RedirectResponse):
        return ready
    app, definition = ready
    store = sealing.store_for(settings_of(request))
    try:
        service.submit(db, actor, app.id, await _signature(posted), store=store)
    except (ValidationError, PermissionDenied) as exc:
        db.rollback()
        app, definition = service.editable(db, actor, application_id)
        return _sign_page(
            request, db, app, definition, error=_message(request, exc), status_code=422
        )
    return see_other(request, f"/applications/{app.id}")


# --- after submission --------------------------------------------------------------------------


@router.get("/applications", response_class=HTMLResponse)
def my_applications(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    """A logged-in visitor: the applications they filed or that are about them."""
    if actor is None:
        return login_redirect(request)
    rows = [(app, get_procedure(app.procedure_id)) for app in service.mine(db, actor)]
    return private_page(request, "procedure/mine.html", {"rows": rows})


def _has_notice(db: Session, actor: Actor, app: Application) -> bool:
    """The signed notice is issued (by the worker, just after the decision commits)."""
    try:
        service.decision(db, actor, app.id)
    except (NotFoundError, ConflictError):
        return False
    return True


@router.get("/applications/{application_id}", response_class=HTMLResponse)
def status_page(
    request: Request, application_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """Whoever may read the application: its state, deadline, evidence, comments, decision."""
    if actor is None:
        return login_redirect(request)
    app = service.get(db, actor, application_id)
    definition = get_procedure(app.procedure_id)
    evidence = _obtained(service.evidence_of(db, app.id))
    return private_page(
        request,
        "procedure/status.html",
        {
            "app": app,
            "definition": definition,
            "evidence": evidence,
            "comments": service.comments(db, actor, app.id),
            "is_filer": actor.label == app.applicant,
            "editable": app.status in EDITABLE,
            "withdrawable": State(app.status) in OPEN,
            "decided": app.status in (State.APPROVED.value, State.REJECTED.value),
            "notice_ready": app.decided_at is not None and _has_notice(db, actor, app),
            "sla": service.sla_status(app),
            "fee": fees.fee_status(db, app),
            "done": request.query_params.get("done"),
        },
    )


@router.post("/applications/{application_id}/withdraw")
def withdraw(request: Request, application_id: str, db: DbSession, actor: CurrentActor) -> Response:
    """The applicant withdraws (取下げ) before a decision."""
    if actor is None:
        return login_redirect(request)
    service.withdraw(db, actor, application_id)
    return see_other(request, f"/applications/{application_id}?done=withdrawn")
