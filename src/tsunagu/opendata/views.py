"""Catalog pages, file downloads and DCAT documents.

These pages read as anonymous visitors: private datasets never appear. The
publisher's pages are in ``publish.py`` (listed before these in ``web.app``), what
all pages share in ``pages.py``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from tsunagu.core.errors import NotFoundError
from tsunagu.core.web import DbSession
from tsunagu.opendata import datastore, dcat, licenses, recommended, service
from tsunagu.opendata.auth import ANONYMOUS
from tsunagu.opendata.config import storage_for
from tsunagu.opendata.pages import field_errors, render_page

router = APIRouter(include_in_schema=False)
FACETS = ("organization", "tags", "res_format", "license_id")
PAGE_ROWS = 20


# DCAT routes first: /dataset/{ref}.{ext} must win over the page /dataset/{ref}.
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


@router.get("/opendata", response_class=HTMLResponse)
def catalog_home(request: Request, session: DbSession) -> HTMLResponse:
    found = service.package_search(
        session,
        ANONYMOUS,
        {
            "rows": 8,
            "sort": "metadata_modified desc",
            "facet.field": '["organization","tags"]',
            "facet.limit": 12,
        },
        str(request.base_url),
    )
    return render_page(
        request,
        "opendata/home.html",
        {
            "recent": found["results"],
            "count": found["count"],
            "facets": found["search_facets"],
            "organizations": service.list_organizations(session, ANONYMOUS),
            "recommended": sorted(recommended.definitions().values(), key=lambda r: r.number),
        },
    )


@router.get("/opendata/search", response_class=HTMLResponse)
def search_page(
    request: Request, session: DbSession, q: str = "", page: int = 1, sort: str = ""
) -> HTMLResponse:
    chosen = {f: request.query_params.getlist(f) for f in FACETS}
    fq = " ".join(f'{f}:"{v}"' for f, values in chosen.items() for v in values)
    page = max(page, 1)
    found = service.package_search(
        session,
        ANONYMOUS,
        {
            "q": q,
            "fq": fq,
            "rows": PAGE_ROWS,
            "start": (page - 1) * PAGE_ROWS,
            "sort": sort,
            "facet.field": list(FACETS),
            "facet.limit": 15,
        },
        str(request.base_url),
    )
    pairs = [(f, v) for f, values in chosen.items() for v in values]

    def link(
        add: tuple[str, str] | None = None, remove: tuple[str, str] | None = None, to_page: int = 1
    ) -> str:
        params = [("q", q)] if q else []
        params += [p for p in pairs if p != remove]
        if add and add not in pairs:
            params.append(add)
        if to_page > 1:
            params.append(("page", str(to_page)))
        return "/opendata/search?" + urlencode(params)

    return render_page(
        request,
        "opendata/search.html",
        {
            "q": q,
            "found": found,
            "chosen": pairs,
            "link": link,
            "page": page,
            "pages": (found["count"] + PAGE_ROWS - 1) // PAGE_ROWS,
        },
    )


def _chart(preview: dict[str, Any] | None) -> dict[str, Any] | None:
    """Bars for the first numeric column of the preview, labelled by the first text column."""
    if not preview:
        return None
    numeric = next(
        (
            f["id"]
            for f in preview["fields"]
            if f["type"] in ("int", "numeric") and f["id"] != "_id"
        ),
        None,
    )
    label = next((f["id"] for f in preview["fields"] if f["type"] == "text"), None)
    if numeric is None or label is None:
        return None
    bars = [
        (str(r[label]), float(r[numeric]))
        for r in preview["records"][:12]
        if r.get(numeric) is not None
    ]
    if not bars:
        return None
    top = max(v for _, v in bars) or 1.0
    return {
        "column": numeric,
        "label": label,
        "bars": [(name, value, max(1.0, 300 * value / top)) for name, value in bars],
    }


@router.get("/dataset/{ref}", response_class=HTMLResponse)
def dataset_page(request: Request, session: DbSession, ref: str) -> HTMLResponse:
    package = service.readable_package(session, ANONYMOUS, ref)
    pkg = service.package_dict(session, package, str(request.base_url))
    service.count_view(session, package.id)
    previews = {}
    for resource in pkg["resources"]:
        if resource["datastore_active"]:
            data = datastore.preview(session, resource["id"], limit=10)
            previews[resource["id"]] = {"data": data, "chart": _chart(data)}
    return render_page(
        request,
        "opendata/dataset.html",
        {
            "pkg": pkg,
            "previews": previews,
            "license": licenses.get(pkg["license_id"]),
            "recommended": recommended.definitions().get(pkg["conforms_to"] or ""),
            "validations": {r.id: r.validation for r in service.get_resources(session, package.id)},
        },
    )


@router.get("/organization", response_class=HTMLResponse)
def organizations_page(request: Request, session: DbSession) -> HTMLResponse:
    return render_page(
        request,
        "opendata/organizations.html",
        {"organizations": service.list_organizations(session, ANONYMOUS)},
    )


@router.get("/organization/{name}", response_class=HTMLResponse)
def organization_page(request: Request, session: DbSession, name: str) -> HTMLResponse:
    org = service.get_organization(session, name)
    found = service.package_search(
        session,
        ANONYMOUS,
        {"fq": f'organization:"{org.name}"', "rows": 100, "sort": "title_string asc"},
        str(request.base_url),
    )
    return render_page(request, "opendata/organization.html", {"org": org, "found": found})


@router.get("/opendata/requests", response_class=HTMLResponse)
def requests_page(request: Request, session: DbSession, sent: bool = False) -> HTMLResponse:
    return render_page(
        request,
        "opendata/requests.html",
        {
            "requests": service.list_data_requests(session),
            "sent": sent,
            "errors": {},
            "organizations": service.list_organizations(session, ANONYMOUS),
            "form": {},
        },
    )


@router.post("/opendata/requests", response_model=None)
def submit_request(
    request: Request,
    session: DbSession,
    title: str = Form(""),
    description: str = Form(""),
    requester_name: str = Form(""),
    organization: str = Form(""),
) -> Response:
    try:
        service.create_data_request(
            session,
            title=title,
            description=description,
            requester_name=requester_name,
            organization=organization or None,
        )
    except service.CatalogValidationError as exc:
        session.rollback()
        return render_page(
            request,
            "opendata/requests.html",
            {
                "requests": service.list_data_requests(session),
                "sent": False,
                "errors": field_errors(request, exc.fields),
                "organizations": service.list_organizations(session, ANONYMOUS),
                "form": {
                    "title": title,
                    "description": description,
                    "requester_name": requester_name,
                    "organization": organization,
                },
            },
            status_code=422,
        )
    return RedirectResponse("/opendata/requests?sent=true", status_code=303)


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
