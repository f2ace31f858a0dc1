"""CKAN Action API v3 (``/api/3/action/<name>`` and ``/api/action/<name>``).

CKAN clients (``ckanapi``, harvesters, municipal portals) use this unchanged:
parameters come from the query string (GET), a JSON body, or a form /
multipart body (uploads in ``upload``); every answer is CKAN's envelope
``{"help", "success", "result"}`` or ``{"help", "success": false, "error":
{"__type", "message", field: [...]}}``. The caller is the owner of the API
token in ``Authorization`` (or ``X-CKAN-API-Key``); without one, anonymous.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tsunagu import __version__
from tsunagu.core.errors import NotFoundError, PermissionDenied, TsunaguError, ValidationError
from tsunagu.core.web import DbSession
from tsunagu.opendata import datastore, licenses, service
from tsunagu.opendata.auth import Actor, actor_from_token
from tsunagu.opendata.config import opendata_settings, storage_for
from tsunagu.opendata.storage import Storage

CKAN_COMPAT_VERSION = "2.10.4"


@dataclass
class Context:
    session: Session
    actor: Actor
    site_url: str
    storage: Storage
    upload: service.Upload | None = None


Action = Callable[[Context, dict[str, Any]], Any]
ACTIONS: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    def register(fn: Action) -> Action:
        ACTIONS[name] = fn
        return fn

    return register


def _require(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if value in (None, ""):
        raise service.CatalogValidationError({key: ["必須項目です / Missing value"]})
    return str(value)


def _int(params: dict[str, Any], key: str, default: int | None) -> int | None:
    value = params.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise service.CatalogValidationError({key: ["整数が必要です / Invalid integer"]}) from exc


# ------------------------------------------------------------------ site


@action("site_read")
def site_read(ctx: Context, params: dict[str, Any]) -> bool:
    return True


@action("status_show")
def status_show(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "site_title": opendata_settings().site_title,
        "site_description": "",
        "site_url": ctx.site_url.rstrip("/"),
        "ckan_version": CKAN_COMPAT_VERSION,
        "tsunagu_version": __version__,
        "locale_default": "ja",
        "extensions": ["datastore", "dcat", "recommended_datasets"],
    }


@action("license_list")
def license_list(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [lic.as_ckan() for lic in licenses.LICENSES]


@action("tag_list")
def tag_list(ctx: Context, params: dict[str, Any]) -> list[str]:
    return service.tag_list(ctx.session, ctx.actor, str(params.get("query") or ""))


# -------------------------------------------------------------- datasets


@action("package_list")
def package_list(ctx: Context, params: dict[str, Any]) -> list[str]:
    return service.list_package_names(
        ctx.session,
        ctx.actor,
        include_private=service.as_bool(params.get("include_private")),
        limit=_int(params, "limit", None),
        offset=_int(params, "offset", 0) or 0,
    )


@action("package_show")
def package_show(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    package = service.readable_package(ctx.session, ctx.actor, _require(params, "id"))
    return service.package_dict(ctx.session, package, ctx.site_url)


@action("package_search")
def package_search(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return service.package_search(ctx.session, ctx.actor, params, ctx.site_url)


@action("package_create")
def package_create(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    package = service.create_package(ctx.session, ctx.actor, params, ctx.site_url)
    return service.package_dict(ctx.session, package, ctx.site_url)


@action("package_update")
def package_update(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    package = service.update_package(ctx.session, ctx.actor, params, ctx.site_url)
    return service.package_dict(ctx.session, package, ctx.site_url)


@action("package_patch")
def package_patch(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    package = service.update_package(ctx.session, ctx.actor, params, ctx.site_url, patch=True)
    return service.package_dict(ctx.session, package, ctx.site_url)


@action("package_delete")
def package_delete(ctx: Context, params: dict[str, Any]) -> None:
    service.delete_package(ctx.session, ctx.actor, _require(params, "id"), ctx.site_url)


@action("package_revision_list")
def package_revision_list(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "revision": r.revision,
            "action": r.action,
            "timestamp": service.ckan_time(r.created_at),
            "actor": r.actor,
        }
        for r in service.revisions(ctx.session, ctx.actor, _require(params, "id"))
    ]


# ------------------------------------------------------------- resources


@action("resource_show")
def resource_show(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    resource, _ = service.get_resource(ctx.session, ctx.actor, _require(params, "id"))
    return service.resource_dict(resource, ctx.site_url)


def _save_resource(ctx: Context, params: dict[str, Any], mode: str) -> dict[str, Any]:
    resource = service.save_resource(
        ctx.session, ctx.actor, params, ctx.site_url, ctx.storage, ctx.upload, mode=mode
    )
    if ctx.upload is not None:
        datastore.load_after_upload(ctx.session, resource, ctx.storage)
    return service.resource_dict(resource, ctx.site_url)


@action("resource_create")
def resource_create(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _require(params, "package_id")
    return _save_resource(ctx, params, "create")


@action("resource_update")
def resource_update(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _require(params, "id")
    return _save_resource(ctx, params, "update")


@action("resource_patch")
def resource_patch(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _require(params, "id")
    return _save_resource(ctx, params, "patch")


@action("resource_delete")
def resource_delete(ctx: Context, params: dict[str, Any]) -> None:
    service.delete_resource(
        ctx.session, ctx.actor, _require(params, "id"), ctx.site_url, ctx.storage
    )


# ---------------------------------------------------- organizations, groups


@action("organization_list")
def organization_list(ctx: Context, params: dict[str, Any]) -> list[Any]:
    rows = service.list_organizations(ctx.session, ctx.actor)
    offset = _int(params, "offset", 0) or 0
    limit = _int(params, "limit", None)
    rows = rows[offset : offset + limit if limit is not None else None]
    if service.as_bool(params.get("all_fields")):
        return [service.organization_dict(ctx.session, org, package_count=n) for org, n in rows]
    return [org.name for org, _ in rows]


@action("organization_show")
def organization_show(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    org = service.get_organization(ctx.session, _require(params, "id"))
    counts = service.public_package_counts(ctx.session, ctx.actor)
    result = service.organization_dict(
        ctx.session,
        org,
        package_count=counts.get(org.id, 0),
        include_users=service.as_bool(params.get("include_users"))
        and ctx.actor.can_admin_org(org.id),
    )
    if service.as_bool(params.get("include_datasets", False)):
        found = service.package_search(
            ctx.session,
            ctx.actor,
            {"fq": f'organization:"{org.name}"', "rows": 1000, "include_private": True},
            ctx.site_url,
        )
        result["packages"] = found["results"]
    return result


@action("organization_create")
def organization_create(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    org = service.create_organization(ctx.session, ctx.actor, params)
    return service.organization_dict(ctx.session, org, package_count=0)


@action("organization_update")
def organization_update(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    org = service.update_organization(ctx.session, ctx.actor, params)
    return service.organization_dict(ctx.session, org)


@action("organization_patch")
def organization_patch(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    org = service.update_organization(ctx.session, ctx.actor, params, patch=True)
    return service.organization_dict(ctx.session, org)


@action("organization_member_create")
def organization_member_create(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    member = service.add_member(
        ctx.session,
        ctx.actor,
        _require(params, "id"),
        _require(params, "username"),
        _require(params, "role"),
    )
    return {
        "group_id": member.organization_id,
        "table_id": member.user_id,
        "table_name": "user",
        "capacity": member.capacity,
        "state": "active",
    }


@action("group_list")
def group_list(ctx: Context, params: dict[str, Any]) -> list[Any]:
    rows = service.list_groups(ctx.session, ctx.actor)
    if service.as_bool(params.get("all_fields")):
        return [service.group_dict(group, n) for group, n in rows]
    return [group.name for group, _ in rows]


@action("group_show")
def group_show(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    group = service.get_group(ctx.session, _require(params, "id"))
    counts = dict((g.id, n) for g, n in service.list_groups(ctx.session, ctx.actor))
    return service.group_dict(group, counts.get(group.id, 0))


@action("group_create")
def group_create(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return service.group_dict(service.create_group(ctx.session, ctx.actor, params), 0)


# -------------------------------------------------------------- datastore


@action("datastore_search")
def datastore_search(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    resource, _ = service.get_resource(ctx.session, ctx.actor, _require(params, "resource_id"))
    return datastore.search(ctx.session, resource.id, params)


# ------------------------------------------------------------ the endpoint

router = APIRouter(tags=["ckan"])


def _help_url(request: Request, name: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/api/3/action/help_show?name={name}"


def _error_body(exc: TsunaguError, language: str) -> tuple[int, dict[str, Any]]:
    message = exc.message(language)
    if isinstance(exc, NotFoundError):
        return 404, {"__type": "Not Found Error", "message": f"Not found: {message}"}
    if isinstance(exc, PermissionDenied):
        return 403, {"__type": "Authorization Error", "message": f"Access denied: {message}"}
    if isinstance(exc, service.CatalogValidationError):
        return 409, {"__type": "Validation Error", "message": message, **exc.fields}
    if isinstance(exc, ValidationError) and exc.code == "opendata.search_query":
        return 409, {"__type": "Search Query Error", "message": f"Search error: {message}"}
    return exc.status_code, {"__type": "Validation Error", "message": message}


async def _parameters(request: Request) -> tuple[dict[str, Any], service.Upload | None]:
    params: dict[str, Any] = dict(request.query_params)
    upload: service.Upload | None = None
    if request.method != "POST":
        return params, None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "upload" and value.filename:
                    upload = service.Upload(value.filename, value.file, value.content_type or "")
            else:
                params[key] = value
        return params, upload
    body = await request.body()
    if body.strip():
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise service.CatalogValidationError(
                {"body": ["JSONを解釈できません / Could not parse JSON body"]}
            ) from exc
        if not isinstance(parsed, dict):
            raise service.CatalogValidationError(
                {"body": ["JSONオブジェクトが必要 / Expected an object"]}
            )
        params.update(parsed)
    return params, upload


def _language(request: Request) -> str:
    accept = request.headers.get("accept-language", "")
    return "ja" if accept.lower().startswith("ja") else "en"


def _run(
    session: Session,
    request: Request,
    name: str,
    params: dict[str, Any],
    upload: service.Upload | None,
) -> Any:
    token = request.headers.get("authorization") or request.headers.get("x-ckan-api-key")
    actor = actor_from_token(session, token)
    ctx = Context(
        session, actor, str(request.base_url), storage_for(request.app.state.settings), upload
    )
    result = ACTIONS[name](ctx, params)
    service.count_api_call(session, name)
    return result


# One route per method, each with its own operation id: a route of two methods gives
# both the id of whichever method its set yields first (a duplicate, and it varies).
@router.get("/api/3/action/{name}", operation_id="ckan_action_get")
@router.post("/api/3/action/{name}", operation_id="ckan_action_post")
@router.api_route("/api/action/{name}", methods=["GET", "POST"], include_in_schema=False)
async def call_action(name: str, request: Request, session: DbSession) -> JSONResponse:
    """Run a CKAN action and wrap its result (or error) in CKAN's envelope."""
    help_url = _help_url(request, name)
    if name not in ACTIONS:
        return JSONResponse(
            {
                "help": help_url,
                "success": False,
                "error": {
                    "__type": "Bad request - Action name not known",
                    "message": f"Bad request - Action name not known: {name}",
                },
            },
            status_code=400,
        )
    try:
        params, upload = await _parameters(request)
        result = await run_in_threadpool(_run, session, request, name, params, upload)
    except TsunaguError as exc:
        session.rollback()
        status, error = _error_body(exc, _language(request))
        return JSONResponse(
            {"help": help_url, "success": False, "error": error}, status_code=status
        )
    return JSONResponse({"help": help_url, "success": True, "result": result})
