"""JSON API: run an anonymization on an uploaded file, record and read releases.

Every endpoint requires the operator token (see ``access``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Request, UploadFile
from fastapi.responses import Response

from tsunagu.anonymize import access, config, engine, service
from tsunagu.anonymize.schemas import ReleaseIn, ReleaseOut
from tsunagu.core.errors import TsunaguError
from tsunagu.core.web import DbSession

router = APIRouter(prefix="/api/anonymize", tags=["anonymize"])

LIMIT_MIB = 512
MAX_UPLOAD_BYTES = LIMIT_MIB * 2**20


class TooLarge(TsunaguError):
    status_code = 413


def operator(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    return access.authorize(authorization, request.app.state.settings.secret_key)


Operator = Annotated[str, Depends(operator)]


def _save_upload(upload: UploadFile, folder: Path) -> Path:
    suffix = Path(upload.filename or "").suffix.lower()
    target = folder / ("input" + (suffix if suffix in (".csv", ".parquet") else ".csv"))
    written = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            written += len(chunk)
            if written > MAX_UPLOAD_BYTES:
                raise TooLarge(
                    "anonymize.too_large",
                    f"ファイルが大きすぎます (上限 {LIMIT_MIB} MiB)。CLI を使ってください",
                    f"the file is too large (limit {LIMIT_MIB} MiB); use the CLI",
                )
            out.write(chunk)
    return target


@router.post("/runs")
def run(
    _actor: Operator,
    file: Annotated[UploadFile, File(description="CSV or Parquet")],
    configuration: Annotated[str, Form(description="YAML configuration")],
    include_output: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Anonymize the uploaded file; the report, and the output CSV text if asked."""
    parsed = config.load_config(configuration)
    with tempfile.TemporaryDirectory(prefix="tsunagu-anonymize-") as folder:
        source = _save_upload(file, Path(folder))
        output = Path(folder) / "output.csv"
        report = engine.run(parsed, source, output)
        text = output.read_text(encoding="utf-8") if include_output else None
    return {"report": report, "output_csv": text}


@router.post("/releases", status_code=201, response_model=ReleaseOut)
def create_release(actor: Operator, body: ReleaseIn, session: DbSession) -> ReleaseOut:
    """Record a release (作成記録 and 公表事項) from a run's report."""
    row = service.create_release(
        session,
        report=body.report,
        title=body.title,
        organization=body.organization,
        publication=body.publication,
        actor=actor,
    )
    return service.release_out(row)


@router.get("/releases", response_model=list[ReleaseOut])
def list_releases(_actor: Operator, session: DbSession) -> list[ReleaseOut]:
    return [service.release_out(row) for row in service.list_releases(session)]


@router.get("/releases/{release_id}", response_model=ReleaseOut)
def get_release(_actor: Operator, release_id: str, session: DbSession) -> ReleaseOut:
    return service.release_out(service.get_release(session, release_id))


@router.get("/releases/{release_id}/signing-input")
def signing_input(_actor: Operator, release_id: str, session: DbSession) -> Response:
    """The canonical JSON a seal signature over this release must cover."""
    body = service.to_be_signed(service.get_release(session, release_id))
    return Response(body, media_type="application/json")
