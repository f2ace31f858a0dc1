"""Catalog pages and file downloads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from tsunagu.core.errors import NotFoundError
from tsunagu.core.web import DbSession
from tsunagu.opendata import service
from tsunagu.opendata.auth import ANONYMOUS
from tsunagu.opendata.config import storage_for

router = APIRouter(include_in_schema=False)


@router.get("/dataset/{package_id}/resource/{resource_id}/download/{filename}")
def download(
    request: Request, session: DbSession, package_id: str, resource_id: str, filename: str
) -> Response:
    """An uploaded file (CKAN's URL shape), counted; linked resources redirect."""
    resource, package = service.get_resource(session, ANONYMOUS, resource_id)
    if package.id != package_id:
        raise NotFoundError("opendata.not_found", "ファイルが見つかりません。", "File not found.")
    service.count_download(session, resource)
    if resource.url_type != "upload" or not resource.storage_key:
        return RedirectResponse(resource.url, status_code=302)
    path = storage_for(request.app.state.settings).path(resource.storage_key)
    return FileResponse(path, filename=resource.url, media_type=resource.mimetype or None)
