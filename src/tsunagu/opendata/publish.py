"""Publisher pages: officials create and edit datasets and add resources (files or links).

Who may: a logged-in official holding the data-publisher role, for the
catalog organizations linked to their own organization
(``auth.actor_for_official``). Visitors who are not logged in are sent to
the login page; residents, business members and officials without the role
or without a linked organization are refused (403). Every form carries the
session's CSRF token, which ``identity.deps.current_session`` checks on each
POST. The service functions check the same rights again, so these routes
are never the only guard.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tsunagu.core.errors import PermissionDenied
from tsunagu.core.i18n import N_, translate
from tsunagu.core.rendering import request_language
from tsunagu.core.web import DbSession
from tsunagu.identity.deps import CurrentActor, csrf_for
from tsunagu.identity.roles import Actor as Party
from tsunagu.identity.roles import Permission, require
from tsunagu.opendata import datastore, licenses, recommended, service
from tsunagu.opendata.auth import Actor, actor_for_official
from tsunagu.opendata.config import storage_for
from tsunagu.opendata.models import OdPackage
from tsunagu.opendata.pages import field_errors, render_page
from tsunagu.opendata.schemas import DatasetForm, ResourceForm

router = APIRouter(include_in_schema=False)
LISTED = 100
LABELS = {
    "title": N_("Dataset title"),
    "name": N_("URL name"),
    "owner_org": N_("Publishing organization"),
    "notes": N_("Description"),
    "license_id": N_("Data licence"),
    "tags": N_("Tags"),
    "private": N_("Visibility"),
    "spatial_lg_code": N_("Area (local government code)"),
    "temporal_start": N_("Period from"),
    "temporal_end": N_("Period to"),
    "conforms_to": N_("Follows recommended dataset"),
    "url": N_("File or URL"),
    "resource_name": N_("Resource name"),
    "format": N_("Format"),
}
TITLE_REQUIRED = N_("Enter a title.")


def _no_linked_organization() -> PermissionDenied:
    return PermissionDenied(
        "opendata.no_publisher_org",
        "あなたの組織に結び付いたカタログの組織がありません。管理者に連絡してください。",
        "No catalog organization is linked to your organization; ask an administrator.",
    )


def _publisher(
    request: Request, session: Session, party: Party | None, *, create_user: bool = False
) -> Actor | RedirectResponse:
    """The catalog actor of the logged-in publisher, or the way to the login page."""
    if party is None:
        target = request.url.path if request.method == "GET" else "/opendata/publish"
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
    require(party, Permission.DATA_PUBLISH)
    actor = actor_for_official(session, party, create_user=create_user)
    if not actor.editable_orgs():
        raise _no_linked_organization()
    return actor


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response = render_page(
        request,
        template,
        {
            "csrf_token": csrf_for(request),
            "field_labels": {k: translate(request_language(request), v) for k, v in LABELS.items()},
            **context,
        },
        status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _errors(
    request: Request,
    session: Session,
    actor: Actor,
    data: dict[str, Any],
    existing: OdPackage | None = None,
) -> dict[str, list[str]]:
    """The service's objections to ``data`` plus the form's own: a title is required."""
    errors = field_errors(request, service.package_errors(session, actor, data, existing))
    if not data["title"]:
        errors = {"title": [translate(request_language(request), TITLE_REQUIRED)], **errors}
    return errors


def _form_context(actor: Actor, session: Session) -> dict[str, Any]:
    return {
        "organizations": [service.get_organization(session, o) for o in actor.editable_orgs()],
        "licenses": licenses.LICENSES,
        "recommended": sorted(recommended.definitions().values(), key=lambda r: r.number),
    }


@router.get("/opendata/publish", response_class=HTMLResponse)
def dashboard(request: Request, session: DbSession, party: CurrentActor) -> Response:
    """The publisher's datasets (private ones included), organization by organization."""
    actor = _publisher(request, session, party)
    if isinstance(actor, RedirectResponse):
        return actor
    site = str(request.base_url)
    listings = []
    for org_id in actor.editable_orgs():
        org = service.get_organization(session, org_id)
        found = service.package_search(
            session,
            actor,
            {
                "fq": f'owner_org:"{org.id}"',
                "include_private": "true",
                "rows": LISTED,
                "sort": "metadata_modified desc",
                "facet": "false",
            },
            site,
        )
        listings.append((org, found))
    return _page(request, "opendata/publish.html", {"listings": listings})


@router.get("/opendata/publish/new", response_class=HTMLResponse)
def new_dataset(request: Request, session: DbSession, party: CurrentActor) -> Response:
    actor = _publisher(request, session, party)
    if isinstance(actor, RedirectResponse):
        return actor
    form = DatasetForm(license_id=licenses.LICENSES[0].id, owner_org=actor.editable_orgs()[0])
    return _page(
        request,
        "opendata/publish_form.html",
        {"form": form, "errors": {}, "package": None, **_form_context(actor, session)},
    )


@router.post("/opendata/publish/new", response_class=HTMLResponse)
def create_dataset(
    request: Request,
    session: DbSession,
    party: CurrentActor,
    form: Annotated[DatasetForm, Form()],
) -> Response:
    actor = _publisher(request, session, party, create_user=True)
    if isinstance(actor, RedirectResponse):
        return actor
    data = form.ckan()
    errors = _errors(request, session, actor, data)
    if errors:
        return _page(
            request,
            "opendata/publish_form.html",
            {"form": form, "errors": errors, "package": None, **_form_context(actor, session)},
            status_code=422,
        )
    package = service.create_package(session, actor, data, str(request.base_url))
    return RedirectResponse(f"/opendata/publish/{package.name}?saved=created", status_code=303)


def _editable(session: Session, actor: Actor, ref: str) -> OdPackage:
    """The dataset if ``actor`` may edit it; invisible private ones look absent."""
    package = service.readable_package(session, actor, ref)
    if not actor.can_edit_org(package.owner_org):
        raise service.denied("このデータセットを編集する", "edit this dataset")
    return package


def _edit_page(
    request: Request,
    session: Session,
    actor: Actor,
    package: OdPackage,
    *,
    form: DatasetForm | None = None,
    errors: dict[str, list[str]] | None = None,
    resource_form: ResourceForm | None = None,
    resource_errors: dict[str, list[str]] | None = None,
    saved: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    pkg = service.package_dict(session, package, str(request.base_url))
    return _page(
        request,
        "opendata/publish_form.html",
        {
            "package": pkg,
            "form": form or DatasetForm.of_package(pkg),
            "errors": errors or {},
            "resource_form": resource_form or ResourceForm(),
            "resource_errors": resource_errors or {},
            "saved": saved,
            **_form_context(actor, session),
        },
        status_code=status_code,
    )


@router.get("/opendata/publish/{ref}", response_class=HTMLResponse)
def edit_dataset(
    request: Request, session: DbSession, party: CurrentActor, ref: str, saved: str = ""
) -> Response:
    actor = _publisher(request, session, party)
    if isinstance(actor, RedirectResponse):
        return actor
    return _edit_page(request, session, actor, _editable(session, actor, ref), saved=saved)


@router.post("/opendata/publish/{ref}", response_class=HTMLResponse)
def update_dataset(
    request: Request,
    session: DbSession,
    party: CurrentActor,
    ref: str,
    form: Annotated[DatasetForm, Form()],
) -> Response:
    actor = _publisher(request, session, party, create_user=True)
    if isinstance(actor, RedirectResponse):
        return actor
    package = _editable(session, actor, ref)
    data = form.ckan()
    errors = _errors(request, session, actor, data, package)
    if errors:
        return _edit_page(
            request, session, actor, package, form=form, errors=errors, status_code=422
        )
    updated = service.update_package(
        session, actor, {**data, "id": package.id}, str(request.base_url), patch=True
    )
    return RedirectResponse(f"/opendata/publish/{updated.name}?saved=updated", status_code=303)


@router.post("/opendata/publish/{ref}/resources", response_class=HTMLResponse)
def add_resource(
    request: Request,
    session: DbSession,
    party: CurrentActor,
    ref: str,
    form: Annotated[ResourceForm, Form()],
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """A new resource: an uploaded file (loaded into the datastore when tabular) or a link."""
    actor = _publisher(request, session, party, create_user=True)
    if isinstance(actor, RedirectResponse):
        return actor
    package = _editable(session, actor, ref)
    upload = (
        service.Upload(file.filename, file.file, file.content_type or "")
        if file is not None and file.filename
        else None
    )
    storage = storage_for(request.app.state.settings)
    data = {
        "package_id": package.id,
        "name": form.resource_name.strip() or (upload.filename if upload else ""),
        "url": form.url.strip(),
        "description": form.description,
        "format": form.format.strip().upper(),
        "conforms_to": form.conforms_to,
    }
    try:
        with session.begin_nested():
            resource = service.save_resource(
                session, actor, data, str(request.base_url), storage, upload
            )
    except service.CatalogValidationError as exc:
        return _edit_page(
            request,
            session,
            actor,
            package,
            resource_form=form,
            resource_errors=field_errors(request, exc.fields),
            status_code=422,
        )
    if upload is not None:
        datastore.load_after_upload(session, resource, storage)
    return RedirectResponse(f"/opendata/publish/{package.name}?saved=resource", status_code=303)
