"""Catalog pages and file downloads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from tsunagu.core.errors import NotFoundError
from tsunagu.core.web import DbSession
from tsunagu.opendata import dcat, service
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


def _rdf_format(ext: str) -> str:
    fmt = dcat.EXTENSIONS.get(ext)
    if fmt is None:
        raise NotFoundError("opendata.not_found", "形式が見つかりません。", "Unknown format.")
    return fmt


@router.get("/catalog.{ext}")
def catalog_rdf(request: Request, session: DbSession, ext: str, page: int = 1) -> Response:
    """The catalog as DCAT-AP 3 (``.ttl``, ``.jsonld``, ``.rdf``), public datasets only."""
    fmt = _rdf_format(ext)
    graph = dcat.catalog_graph(session, str(request.base_url), page)
    return Response(dcat.serialize(graph, fmt), media_type=dcat.MEDIA_TYPES[fmt])


@router.get("/dataset/{ref}.{ext}")
def dataset_rdf(request: Request, session: DbSession, ref: str, ext: str) -> Response:
    """One public dataset as DCAT-AP 3."""
    fmt = _rdf_format(ext)
    package = service.readable_package(session, ANONYMOUS, ref)
    graph = dcat.dataset_graph(session, package, str(request.base_url))
    return Response(dcat.serialize(graph, fmt), media_type=dcat.MEDIA_TYPES[fmt])
