"""HTML pages for registry keepers: their registers, records "as of" any day, and changes.

Only officials with the ``registry_keeper`` role see these pages, and only
the records their own organization keeps (another organization's record is
"not found", as in the API). Every change goes through the engine, which
validates it against the registry's schema and audits it; schema errors are
shown next to their fields in the page's language.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tsunagu.core.errors import NotFoundError, PermissionDenied, TsunaguError
from tsunagu.core.i18n import N_, translate
from tsunagu.core.rendering import render, request_language
from tsunagu.core.web import DbSession
from tsunagu.identity import service as identity
from tsunagu.identity.deps import csrf_for, require_official
from tsunagu.identity.roles import Actor
from tsunagu.identity.schemas import OfficialRole
from tsunagu.registry import forms, service
from tsunagu.registry.definitions import RegistryDefinition, get_registry, lookup, registries
from tsunagu.registry.validation import FieldError, RecordInvalid

router = APIRouter(include_in_schema=False)

Keeper = Annotated[Actor, Depends(require_official(OfficialRole.REGISTRY_KEEPER))]
PAGE_SIZE = 50
# Controls of the change form that are not fields of the record.
FORM_TITLES = {"valid_from": N_("Valid from"), "subject_id": N_("ID of the subject")}
# Fields that name what a record is about, tried in order, for lists and headings.
LABEL_FIELDS = ("trade_name", "registration_number", "employee_name", "certificate_number")


def _organization(actor: Actor) -> str:
    if actor.organization_id is None:
        raise PermissionDenied(
            "no_organization", "所属組織がありません。", "The official belongs to no organization."
        )
    return actor.organization_id


def _kept(session: Session, actor: Actor) -> tuple[str, list[RegistryDefinition]]:
    """The official's organization and the registers an organization of its kind keeps."""
    organization = identity.get_organization(session, _organization(actor))
    kind = organization.kind.value
    return organization.id, [d for d in registries().values() if d.owner_kind == kind]


def _registry(session: Session, actor: Actor, registry_id: str) -> tuple[str, RegistryDefinition]:
    organization, kept = _kept(session, actor)
    definition = get_registry(registry_id)
    if definition not in kept:
        raise NotFoundError(
            "not_your_registry",
            "貴組織が管理する台帳ではありません。",
            "Your organization does not keep this registry.",
        )
    return organization, definition


def label_of(data: dict[str, Any] | None, fallback: str) -> str:
    """A human name for a record: the person's name, a trade name, a plate number …"""
    name = lookup(data, "name")
    if isinstance(name, dict) and name.get("family"):
        return f"{name['family']}\u3000{name.get('given', '')}".strip()
    for path in LABEL_FIELDS:
        value = lookup(data, path)
        if value:
            return str(value)
    return fallback


@router.get("/registries", response_class=HTMLResponse)
def registries_page(request: Request, session: DbSession, actor: Keeper) -> HTMLResponse:
    organization, kept = _kept(session, actor)
    rows = [(d, service.count_kept_by(session, organization, d.id)) for d in kept]
    return render(
        request,
        "registry/index.html",
        {"rows": rows, "language": request_language(request),
         "organization": identity.get_organization(session, organization)},
    )  # fmt: skip


@router.get("/registries/{registry_id}", response_class=HTMLResponse)
def registry_page(
    request: Request,
    registry_id: str,
    session: DbSession,
    actor: Keeper,
    offset: Annotated[int, Query(ge=0)] = 0,
    subject: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    organization, definition = _registry(session, actor, registry_id)
    if subject and subject.strip():
        return RedirectResponse(_record_url(registry_id, subject.strip()), status_code=303)
    name = (name or "").strip()
    if name:
        # Matches by name: the first page's worth, no paging (narrow the name instead).
        versions = service.find_kept_by(session, organization, registry_id, name, limit=PAGE_SIZE)
        total, offset = len(versions), 0
    else:
        versions = service.kept_by(
            session, organization, registry_id, limit=PAGE_SIZE, offset=offset
        )
        total = service.count_kept_by(session, organization, registry_id)
    return render(
        request,
        "registry/registry.html",
        {
            "definition": definition,
            "language": request_language(request),
            "rows": [(v, label_of(v.data, v.subject_id)) for v in versions],
            "total": total,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "name": name,
        },
    )


def _record_url(registry_id: str, subject_id: str) -> str:
    return f"/registries/{quote(registry_id)}/records/{quote(subject_id, safe='')}"


def _form_context(
    request: Request,
    definition: RegistryDefinition,
    values: dict[str, str],
    errors: list[FieldError],
    general: TsunaguError | None,
    **extra: Any,
) -> dict[str, Any]:
    language = request_language(request)
    by_path: dict[str, list[str]] = {}
    for error in errors:
        message = error.message_en if language == "en" else error.message_ja
        by_path.setdefault(error.path, []).append(message)
    fields = forms.fields_of(definition)
    titles = {path: translate(language, text) for path, text in FORM_TITLES.items()}
    return {
        "definition": definition,
        "language": language,
        "fields": fields,
        "field_titles": titles | {f.path: f.title for f in fields},
        "values": values,
        "errors": by_path,
        "general_error": general.message(language) if general else None,
        "csrf": csrf_for(request),
        **extra,
    }


def _keeper_versions(
    session: Session, registry_id: str, subject_id: str, organization: str
) -> list[service.Version]:
    versions = [
        v for v in service.history(session, registry_id, subject_id) if v.keeper_id == organization
    ]
    if not versions:
        raise NotFoundError(
            "no_record",
            "貴組織が管理する記録はありません。",
            f"Your organization keeps no such {registry_id} record.",
        )
    return versions


@router.get("/registries/{registry_id}/records/{subject_id}", response_class=HTMLResponse)
def record_page(
    request: Request,
    registry_id: str,
    subject_id: str,
    session: DbSession,
    actor: Keeper,
    valid_on: date | None = None,
    known_at: datetime | None = None,
    saved: bool = False,
) -> HTMLResponse:
    """The record valid on a day as known at a moment, its full history, and a change form."""
    organization, definition = _registry(session, actor, registry_id)
    history = _keeper_versions(session, registry_id, subject_id, organization)
    shown = [
        v
        for v in service.as_of(
            session, registry_id, subject_id, valid_on=valid_on, known_at=known_at
        )
        if v.keeper_id == organization
    ]
    current = shown[0] if shown else None
    fields = forms.fields_of(definition)
    values = forms.initial_values(fields, current.data if current else None)
    context = _form_context(
        request, definition, values, [], None, subject_id=subject_id,
        label=label_of(history[-1].data, subject_id),
        shown=[(v, forms.displayed(fields, v.data)) for v in shown],
        history=history, valid_on=valid_on, known_at=known_at, saved=saved,
        change={"valid_from": "", "reason": "change", "note": "",
                "record_key": current.record_key if current else ""},
    )  # fmt: skip
    return render(request, "registry/record.html", context)


@router.post("/registries/{registry_id}/records/{subject_id}", response_class=HTMLResponse)
async def change_record(
    request: Request, registry_id: str, subject_id: str, session: DbSession, actor: Keeper
) -> Response:
    """State the record from a day on (a change, or a correction of what was wrong)."""
    organization, definition = _registry(session, actor, registry_id)
    history = _keeper_versions(session, registry_id, subject_id, organization)
    form = await request.form()
    change = {
        k: str(form.get(k, "")).strip() for k in ("valid_from", "reason", "note", "record_key")
    }
    fields = forms.fields_of(definition)
    values = forms.submitted_values(fields, form)
    errors, general = _apply(session, definition, subject_id, organization, actor, values, change)
    if not errors and general is None:
        return RedirectResponse(_record_url(registry_id, subject_id) + "?saved=1", status_code=303)
    context = _form_context(
        request, definition, values, errors, general, subject_id=subject_id,
        label=label_of(history[-1].data, subject_id), shown=[], history=history,
        valid_on=None, known_at=None, saved=False, change=change,
    )  # fmt: skip
    return render(request, "registry/record.html", context, status_code=422)


def _apply(
    session: Session,
    definition: RegistryDefinition,
    subject_id: str,
    organization: str,
    actor: Actor,
    values: dict[str, str],
    change: dict[str, str],
) -> tuple[list[FieldError], TsunaguError | None]:
    """Validate the form and write it; returns the field errors and any other error."""
    record, errors = forms.parse(forms.fields_of(definition), values)
    start: date | None = None
    try:
        start = date.fromisoformat(change["valid_from"])
    except ValueError:
        errors.append(
            FieldError(
                "valid_from",
                "format",
                "「有効期間の開始日」: 日付 (YYYY-MM-DD) で入力してください。",
                "valid_from must be a date (YYYY-MM-DD).",
            )
        )
    reason = change["reason"] if change["reason"] in ("change", "correction") else "change"
    if start is None:
        return errors, None
    try:
        definition.validator.validate(definition.id, record)
    except RecordInvalid as invalid:
        errors.extend(invalid.errors)
    if errors:
        return errors, None
    current = service.version_at(
        session, definition.id, subject_id, start, record_key=definition.record_key(record)
    )
    if current is not None and current.keeper_id != organization:
        return [], NotFoundError(
            "no_record", "貴組織が管理する記録はありません。", "No such record."
        )
    try:  # the engine checks everything before it writes, so a refusal leaves no trace
        service.assert_fact(
            session, definition.id, subject_id, record, keeper_id=organization,
            actor=actor.label, valid_from=start, valid_to=current.valid_to if current else None,
            reason=reason, note=change["note"] or None,
        )  # fmt: skip
    except RecordInvalid as invalid:
        return invalid.errors, None
    except TsunaguError as error:
        return [], error
    return [], None


@router.get("/registries/{registry_id}/new", response_class=HTMLResponse)
def new_record_page(
    request: Request, registry_id: str, session: DbSession, actor: Keeper
) -> HTMLResponse:
    _, definition = _registry(session, actor, registry_id)
    values = forms.initial_values(forms.fields_of(definition), None)
    context = _form_context(
        request, definition, values, [], None, subject_id="",
        change={"valid_from": "", "reason": "change", "note": "", "record_key": ""},
    )  # fmt: skip
    return render(request, "registry/new.html", context)


@router.post("/registries/{registry_id}/new", response_class=HTMLResponse)
async def create_record(
    request: Request, registry_id: str, session: DbSession, actor: Keeper
) -> Response:
    organization, definition = _registry(session, actor, registry_id)
    form = await request.form()
    subject_id = str(form.get("subject_id", "")).strip()
    change = {k: str(form.get(k, "")).strip() for k in ("valid_from", "note")}
    change |= {"reason": "change", "record_key": ""}
    values = forms.submitted_values(forms.fields_of(definition), form)
    errors: list[FieldError] = []
    general: TsunaguError | None = None
    if not subject_id or len(subject_id) > 64:
        errors.append(
            FieldError("subject_id", "required", "「対象の ID」は必須です（64 文字以内）。",
                       "subject_id is required (up to 64 characters).")
        )  # fmt: skip
    elif service.history(session, registry_id, subject_id):
        general = NotFoundError(
            "record_exists",
            "この対象の記録は既にあります。記録のページから変更してください。",
            "This subject already has a record; change it from its record page.",
        )
    if not errors and general is None:
        errors, general = _apply(
            session, definition, subject_id, organization, actor, values, change
        )
    if not errors and general is None:
        return RedirectResponse(_record_url(registry_id, subject_id) + "?saved=1", status_code=303)
    context = _form_context(
        request, definition, values, errors, general, subject_id=subject_id, change=change
    )
    return render(request, "registry/new.html", context, status_code=422)
