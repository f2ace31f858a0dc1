"""JSON endpoints beyond CKAN's: recommended-dataset schemas, templates, validation, statistics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, UploadFile
from fastapi.responses import JSONResponse, Response

from tsunagu.core.web import DbSession
from tsunagu.opendata import recommended, service
from tsunagu.opendata.auth import ANONYMOUS

router = APIRouter(prefix="/api/opendata", tags=["opendata"])


@router.get("/recommended")
def list_recommended() -> list[dict[str, Any]]:
    """The recommended municipal datasets (推奨データセット) this catalog validates against."""
    return [
        {
            "key": r.key,
            "number": r.number,
            "title": r.title,
            "description": r.description,
            "fields": len(r.schema["fields"]),
            "required": r.required,
        }
        for r in sorted(recommended.definitions().values(), key=lambda r: r.number)
    ]


@router.get("/recommended/{key}/schema.json")
def recommended_schema(key: str) -> JSONResponse:
    """The Frictionless Table Schema of one recommended dataset."""
    definition = recommended.get(key)
    return JSONResponse(
        {"name": key, "title": definition.title, **definition.schema},
        media_type="application/schema+json",
    )


@router.get("/recommended/{key}/template.csv")
def recommended_template(key: str) -> Response:
    """An empty CSV with the header row, for publishers to fill in."""
    return Response(
        recommended.template_csv(key),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{key}.csv"'},
    )


@router.post("/recommended/{key}/validate")
async def validate_file(key: str, file: UploadFile) -> dict[str, Any]:
    """Check a file against a recommended dataset without publishing it."""
    recommended.get(key)
    data = await file.read()
    fmt = (file.filename or "data.csv").rsplit(".", 1)[-1].lower()
    return recommended.validate_bytes(key, data, fmt if fmt in ("csv", "tsv", "xlsx") else "csv")


@router.get("/resources/{resource_id}/validation")
def resource_validation(resource_id: str, session: DbSession) -> dict[str, Any]:
    resource, _ = service.get_resource(session, ANONYMOUS, resource_id)
    return resource.validation or {"schema": resource.conforms_to, "valid": None, "errors": []}


@router.get("/resources/{resource_id}/badge.svg")
def resource_badge(resource_id: str, session: DbSession) -> Response:
    resource, _ = service.get_resource(session, ANONYMOUS, resource_id)
    return Response(
        recommended.badge_svg(resource.validation),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/stats")
def statistics(session: DbSession) -> dict[str, Any]:
    """Use of the catalog: public datasets, views, downloads and API calls per action."""
    return service.usage_statistics(session)
