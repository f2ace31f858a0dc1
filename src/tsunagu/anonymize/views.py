"""Pages for officials: upload, configure roles and hierarchies, preview, release, seal, publish.

Thin like the API: every page needs an official with the ``data_publisher``
role (``access``), every form carries the session's CSRF token, and each
action calls the same service functions as the JSON API and the CLI. Form
mistakes and refused actions re-render the page with the message (and roll
back anything half done), so the official never loses what they entered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from tsunagu.anonymize import access, catalog, errors, form, report, service, signing, workspace
from tsunagu.anonymize.models import AnonymizationRelease
from tsunagu.anonymize.schemas import PublicationIn
from tsunagu.anonymize.workspace import Work, WorkStore
from tsunagu.core.errors import TsunaguError
from tsunagu.core.i18n import translations
from tsunagu.core.rendering import render, request_language
from tsunagu.core.web import DbSession
from tsunagu.exchange import sealing
from tsunagu.identity.deps import csrf_for, require_official, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.identity.schemas import OfficialRole

router = APIRouter(include_in_schema=False)

Publisher = Annotated[Actor, Depends(require_official(OfficialRole.DATA_PUBLISHER))]
Official = Annotated[Actor, Depends(require_official())]
STATIC = Path(__file__).resolve().parent / "static"
LICENSES = ("cc-by-4.0", "gov-jp-2.0", "cc0-1.0")
MAX_CONFIG_CHARS = 200_000


def _store(request: Request) -> WorkStore:
    return WorkStore.for_settings(settings_of(request))


def _message(request: Request, error: TsunaguError) -> str:
    return error.message_en if request_language(request) == "en" else error.message_ja


def _official_id(actor: Actor) -> str:
    assert actor.official_id is not None
    return actor.official_id


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _form(request: Request) -> Any:
    return await request.form()


def _text_field(value: Any) -> str:
    return value[:MAX_CONFIG_CHARS] if isinstance(value, str) else ""


async def _yaml_from(value: Any, upload: Any) -> str:
    """The YAML pasted in the text area, else the uploaded YAML file."""
    text = _text_field(value).strip()
    if text or not isinstance(upload, UploadFile) or not upload.filename:
        return text
    data = await upload.read(MAX_CONFIG_CHARS + 1)
    return data[:MAX_CONFIG_CHARS].decode("utf-8", errors="replace")


@router.get("/anonymize/static/anonymize.css")
def stylesheet() -> FileResponse:
    return FileResponse(STATIC / "anonymize.css", media_type="text/css")


# --- the index: upload, open work, releases ----------------------------------------------


def _index(
    request: Request, session: DbSession, actor: Actor, error: str | None = None, status: int = 200
) -> HTMLResponse:
    organization_id = access.organization_of(actor)
    store = sealing.store_for(settings_of(request))
    try:
        seal_serial: str | None = store.seal_for(session, organization_id).serial
    except TsunaguError:
        seal_serial = None
    context = {
        "csrf": csrf_for(request),
        "error": error,
        "works": _store(request).open_works(_official_id(actor)),
        "releases": service.list_releases(session, organization_id),
        "seal_serial": seal_serial,
        "can_issue_seal": access.can_issue_seal(actor, organization_id),
        "limit_mib": max(1, workspace.MAX_UPLOAD_BYTES // 2**20),
    }
    return render(request, "anonymize/index.html", context, status_code=status)


@router.get("/anonymize", response_class=HTMLResponse)
def index(request: Request, session: DbSession, actor: Publisher) -> HTMLResponse:
    return _index(request, session, actor)


@router.post("/anonymize/work", response_model=None)
async def upload(
    request: Request, session: DbSession, actor: Publisher
) -> HTMLResponse | RedirectResponse:
    """Save the uploaded CSV as a work area; run at once when a YAML configuration came with it."""
    data = await _form(request)
    file = data.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        message = translations(request_language(request)).gettext("Choose a CSV file to upload.")
        return _index(request, session, actor, message, 422)
    store = _store(request)
    try:
        work = store.create(
            file.file,
            file.filename,
            organization_id=access.organization_of(actor),
            official_id=_official_id(actor),
        )
    except TsunaguError as exc:
        return _index(request, session, actor, _message(request, exc), exc.status_code)
    size = work.input.stat().st_size
    service.audit_work(
        session, actor=actor.label, action="upload", work_id=work.id, data={"bytes": size}
    )
    yaml_text = await _yaml_from(data.get("config_text"), data.get("config_file"))
    if yaml_text:
        try:
            _run(session, request, actor, work, yaml_text)
        except TsunaguError as exc:
            return _work_page(request, work, error=_message(request, exc), yaml_text=yaml_text)
    return _see_other(f"/anonymize/work/{work.id}")


def _run(session: DbSession, request: Request, actor: Actor, work: Work, yaml_text: str) -> None:
    result = _store(request).run(work, yaml_text)
    service.audit_work(
        session,
        actor=actor.label,
        action="run",
        work_id=work.id,
        data=service.run_figures(result),
    )


# --- a work area: configure, run, preview, release ------------------------------------------


def _work_page(
    request: Request,
    work: Work,
    *,
    error: str | None = None,
    choices: tuple[list[form.ColumnChoice], form.PrivacyChoice] | None = None,
    yaml_text: str | None = None,
    status: int | None = None,
) -> HTMLResponse:
    last = work.config_text()
    columns, privacy = (
        choices
        or (form.choices_from_config(work.columns(), last) if last else None)
        or (form.default_choices(work.columns()), form.PrivacyChoice())
    )
    result = work.report()
    gettext = translations(request_language(request)).gettext
    context: dict[str, Any] = {
        "csrf": csrf_for(request),
        "work": work,
        "columns": columns,
        "privacy": privacy,
        "yaml_text": yaml_text if yaml_text is not None else (last or ""),
        "error": error,
        "roles": form.ROLES,
        "kinds": form.KINDS,
        "hierarchies": form.HIERARCHIES,
        "date_levels": form.DATE_LEVELS,
        "column_types": form.COLUMN_TYPES,
        "algorithms": form.ALGORITHMS,
        "l_variants": form.L_VARIANTS,
        "has_report": result is not None,
    }
    if result is not None:
        context.update(report.chart_context(result, gettext))
    return render(
        request, "anonymize/work.html", context, status_code=status or (422 if error else 200)
    )


def _work(request: Request, actor: Actor, work_id: str) -> Work:
    return _store(request).get(work_id, official_id=_official_id(actor))


@router.get("/anonymize/work/{work_id}", response_class=HTMLResponse)
def work_page(request: Request, actor: Publisher, work_id: str) -> HTMLResponse:
    return _work_page(request, _work(request, actor, work_id))


@router.post("/anonymize/work/{work_id}/run", response_model=None)
async def run_from_form(
    request: Request, session: DbSession, actor: Publisher, work_id: str
) -> HTMLResponse | RedirectResponse:
    """Run with the roles and hierarchies chosen in the form."""
    work = _work(request, actor, work_id)
    choices = form.choices_from_form(work.columns(), await _form(request))
    try:
        yaml_text = form.to_yaml(form.build_config(*choices))
        _run(session, request, actor, work, yaml_text)
    except TsunaguError as exc:
        return _work_page(request, work, error=_message(request, exc), choices=choices)
    return _see_other(f"/anonymize/work/{work.id}#result")


@router.post("/anonymize/work/{work_id}/run-yaml", response_model=None)
async def run_from_yaml(
    request: Request, session: DbSession, actor: Publisher, work_id: str
) -> HTMLResponse | RedirectResponse:
    """Run with a full YAML configuration, pasted or uploaded."""
    work = _work(request, actor, work_id)
    data = await _form(request)
    yaml_text = await _yaml_from(data.get("config_text"), data.get("config_file"))
    try:
        _run(session, request, actor, work, yaml_text)
    except TsunaguError as exc:
        return _work_page(request, work, error=_message(request, exc), yaml_text=yaml_text)
    return _see_other(f"/anonymize/work/{work.id}#result")


@router.post("/anonymize/work/{work_id}/release", response_model=None)
async def record_release(
    request: Request, session: DbSession, actor: Publisher, work_id: str
) -> HTMLResponse | RedirectResponse:
    """Record the 作成記録 and 公表事項 of the last run; the raw input is deleted."""
    work = _work(request, actor, work_id)
    data = await _form(request)
    result = work.report()
    categories = [
        part.strip() for part in _text_field(data.get("categories")).split(",") if part.strip()
    ]
    try:
        if result is None:
            raise errors.bad_input("まだ加工していません", "nothing has been run yet")
        publication = _publication(data, categories)
        row = service.create_release(
            session,
            report=result,
            title=_text_field(data.get("title")).strip()[:300],
            organization_id=access.organization_of(actor),
            publication=publication,
            actor=actor.label,
        )
        _store(request).keep_output(work, row.id)
    except TsunaguError as exc:
        session.rollback()
        return _work_page(request, work, error=_message(request, exc))
    return _see_other(f"/anonymize/releases/{row.id}")


def _publication(data: Any, categories: list[str]) -> PublicationIn:
    provision = _text_field(data.get("provision_method")).strip()
    title = _text_field(data.get("title")).strip()
    if not provision or not title:
        raise errors.bad_input(
            "名称と提供の方法を入力してください", "enter the title and how the data are provided"
        )
    return PublicationIn(categories=categories or None, provision_method=provision[:2000])


@router.post("/anonymize/work/{work_id}/discard")
def discard(
    request: Request, session: DbSession, actor: Publisher, work_id: str
) -> RedirectResponse:
    _store(request).discard(_work(request, actor, work_id))
    service.audit_work(session, actor=actor.label, action="discard", work_id=work_id)
    return _see_other("/anonymize")


# --- a release: figures, seal, verification, publication ---------------------------------


def _release_page(
    request: Request,
    session: DbSession,
    row: AnonymizationRelease,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    gettext = translations(request_language(request)).gettext
    creation = json.loads(row.creation_record)
    figures = {**creation, "search": {"levels": creation.get("generalization_levels")}}
    context: dict[str, Any] = {
        "csrf": csrf_for(request),
        "row": row,
        "publication": json.loads(row.publication),
        "verification": signing.verify_release(session, row) if row.signature else None,
        "error": error,
        "licenses": LICENSES,
        "package_name": f"anonymized-{row.id}",
        **report.chart_context(figures, gettext),
    }
    return render(request, "anonymize/release.html", context, status_code=status)


def _owned(session: DbSession, actor: Actor, release_id: str) -> AnonymizationRelease:
    return access.check_owner(actor, service.get_release(session, release_id))


@router.get("/anonymize/releases/{release_id}", response_class=HTMLResponse)
def release_page(
    request: Request, session: DbSession, actor: Publisher, release_id: str
) -> HTMLResponse:
    return _release_page(request, session, _owned(session, actor, release_id))


@router.get("/anonymize/releases/{release_id}/output.csv")
def release_file(
    request: Request, session: DbSession, actor: Publisher, release_id: str
) -> Response:
    """The released (anonymized) file, for the organization's own check before publishing."""
    row = _owned(session, actor, release_id)
    path = _store(request).release_file(row.id)
    if not path.is_file():
        raise access.release_not_found()
    return FileResponse(path, media_type="text/csv", filename=f"{row.id}.csv")


@router.post("/anonymize/releases/{release_id}/sign", response_model=None)
def sign(
    request: Request, session: DbSession, actor: Publisher, release_id: str
) -> HTMLResponse | RedirectResponse:
    row = _owned(session, actor, release_id)
    settings = settings_of(request)
    try:
        access.check_signer(actor, row)
        signing.sign_release(session, settings, sealing.store_for(settings), row, actor=actor.label)
    except TsunaguError as exc:
        session.rollback()
        return _release_page(request, session, row, error=_message(request, exc), status=409)
    return _see_other(f"/anonymize/releases/{row.id}")


@router.post("/anonymize/releases/{release_id}/publish", response_model=None)
async def publish(
    request: Request, session: DbSession, actor: Publisher, release_id: str
) -> HTMLResponse | RedirectResponse:
    row = _owned(session, actor, release_id)
    data = await _form(request)
    license_id = data.get("license_id")
    try:
        catalog.publish_release(
            session,
            settings_of(request),
            row,
            file=_store(request).release_file(row.id),
            actor=actor.label,
            license_id=license_id if license_id in LICENSES else LICENSES[0],
            notes=_text_field(data.get("notes"))[:5000],
        )
    except TsunaguError as exc:
        session.rollback()
        return _release_page(request, session, row, error=_message(request, exc), status=409)
    return _see_other(f"/anonymize/releases/{row.id}")


@router.post("/anonymize/seal")
def issue_seal(request: Request, session: DbSession, actor: Official) -> RedirectResponse:
    """An administrator has a seal issued to their organization, held by this deployment."""
    organization_id = access.seal_issuer_organization(actor)
    sealing.store_for(settings_of(request)).ensure(session, organization_id, actor=actor.label)
    return _see_other("/anonymize")
