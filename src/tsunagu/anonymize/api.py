"""JSON API: run on an uploaded file, record, seal, verify and publish releases.

Callers are officials with the ``data_publisher`` role, acting for their own
organization (see ``access``); changes need the session's CSRF token in
``X-CSRF-Token``. A published release's record, signature and verification
are public.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from tsunagu.anonymize import access, catalog, errors, service, signing
from tsunagu.anonymize.models import AnonymizationRelease
from tsunagu.anonymize.schemas import PublishIn, ReleaseIn, ReleaseOut, VerificationOut
from tsunagu.anonymize.workspace import WorkStore
from tsunagu.core.web import DbSession
from tsunagu.exchange import sealing
from tsunagu.identity.deps import CurrentActor, require_official, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.identity.schemas import OfficialRole

router = APIRouter(prefix="/api/anonymize", tags=["anonymize"])

Publisher = Annotated[Actor, Depends(require_official(OfficialRole.DATA_PUBLISHER))]
API_SUFFIXES = (".csv", ".parquet")


def work_store(request: Request) -> WorkStore:
    return WorkStore.for_settings(settings_of(request))


def _official_id(actor: Actor) -> str:
    assert actor.official_id is not None  # require_official guarantees an official
    return actor.official_id


def owned_release(session: DbSession, actor: Actor, release_id: str) -> AnonymizationRelease:
    return access.check_owner(actor, service.get_release(session, release_id))


def readable_release(
    session: DbSession, actor: Actor | None, release_id: str
) -> AnonymizationRelease:
    row = service.get_release(session, release_id)
    if not access.can_read(actor, row):
        raise access.release_not_found()
    return row


@router.post("/runs")
def run(
    request: Request,
    session: DbSession,
    actor: Publisher,
    file: Annotated[UploadFile, File(description="CSV (UTF-8) or Parquet")],
    configuration: Annotated[str, Form(description="YAML configuration", max_length=200_000)],
    include_output: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Anonymize the uploaded file; the run id (to record a release), the report and,
    if asked, the output CSV text. A failed run leaves nothing behind; the upload is
    deleted when a release is recorded, the run is discarded, or after 24 hours."""
    store = work_store(request)
    work = store.create(
        file.file,
        file.filename or "input.csv",
        organization_id=access.organization_of(actor),
        official_id=_official_id(actor),
        allowed=API_SUFFIXES,
    )
    try:
        report = store.run(work, configuration)
    except BaseException:
        store.discard(work)
        raise
    service.audit_work(
        session, actor=actor.label, action="run", work_id=work.id, data=service.run_figures(report)
    )
    text = work.output.read_text(encoding="utf-8") if include_output else None
    return {"run_id": work.id, "report": report, "output_csv": text}


@router.delete("/runs/{run_id}", status_code=204)
def discard_run(request: Request, session: DbSession, actor: Publisher, run_id: str) -> Response:
    """Delete a run and its uploaded data now (otherwise at recording or after 24 hours)."""
    store = work_store(request)
    store.discard(store.get(run_id, official_id=_official_id(actor)))
    service.audit_work(session, actor=actor.label, action="discard", work_id=run_id)
    return Response(status_code=204)


@router.post("/releases", status_code=201, response_model=ReleaseOut)
def create_release(
    request: Request, actor: Publisher, body: ReleaseIn, session: DbSession
) -> ReleaseOut:
    """Record a release (作成記録 and 公表事項) from one of this official's runs."""
    store = work_store(request)
    work = store.get(body.run_id, official_id=_official_id(actor))
    report = work.report()
    if report is None:
        raise errors.bad_input("まだ加工していません", "nothing has been run yet")
    row = service.create_release(
        session,
        report=report,
        title=body.title,
        organization_id=access.organization_of(actor),
        publication=body.publication,
        actor=actor.label,
    )
    store.keep_output(work, row.id)
    return service.release_out(row)


@router.get("/releases", response_model=list[ReleaseOut])
def list_releases(actor: Publisher, session: DbSession) -> list[ReleaseOut]:
    """The releases of the caller's organization."""
    rows = service.list_releases(session, access.organization_of(actor))
    return [service.release_out(row) for row in rows]


@router.get("/releases/{release_id}", response_model=ReleaseOut)
def get_release(actor: Publisher, release_id: str, session: DbSession) -> ReleaseOut:
    return service.release_out(owned_release(session, actor, release_id))


@router.get("/releases/{release_id}/signing-input")
def signing_input(actor: Publisher, release_id: str, session: DbSession) -> Response:
    """The canonical JSON a seal signature over this release covers."""
    body = service.to_be_signed(owned_release(session, actor, release_id))
    return Response(body, media_type="application/json")


@router.post("/releases/{release_id}/sign", response_model=ReleaseOut)
def sign(request: Request, actor: Publisher, release_id: str, session: DbSession) -> ReleaseOut:
    """Seal the record with the organization's seal certificate (time-stamped)."""
    row = access.check_signer(actor, service.get_release(session, release_id))
    settings = settings_of(request)
    signing.sign_release(session, settings, sealing.store_for(settings), row, actor=actor.label)
    return service.release_out(row)


@router.post("/releases/{release_id}/publish", response_model=ReleaseOut)
def publish(
    request: Request, actor: Publisher, release_id: str, body: PublishIn, session: DbSession
) -> ReleaseOut:
    """List a sealed release in the open data catalog with its figures and CSV."""
    row = owned_release(session, actor, release_id)
    catalog.publish_release(
        session,
        settings_of(request),
        row,
        file=work_store(request).release_file(row.id),
        actor=actor.label,
        license_id=body.license_id,
        notes=body.notes,
    )
    return service.release_out(row)


@router.get("/releases/{release_id}/record.json")
def record(actor: CurrentActor, release_id: str, session: DbSession) -> Response:
    """The signed content (public once published): exactly the bytes the seal covers."""
    body = service.to_be_signed(readable_release(session, actor, release_id))
    return Response(body, media_type="application/json")


@router.get("/releases/{release_id}/record.p7s")
def record_signature(actor: CurrentActor, release_id: str, session: DbSession) -> Response:
    """The detached CMS signature over ``record.json`` (DER)."""
    row = readable_release(session, actor, release_id)
    return Response(
        signing.signature_of(row),
        media_type="application/pkcs7-signature",
        headers={"Content-Disposition": f'attachment; filename="{row.id}.p7s"'},
    )


@router.get("/releases/{release_id}/verification", response_model=VerificationOut)
def verification(actor: CurrentActor, release_id: str, session: DbSession) -> VerificationOut:
    """Check the seal now: chain, validity at the time-stamp, revocation, content."""
    row = readable_release(session, actor, release_id)
    result = signing.verify_release(session, row)
    return VerificationOut(
        release_id=row.id,
        valid=result.valid,
        code=result.code,
        message_ja=result.message_ja,
        message_en=result.message_en,
        record_sha256=row.record_sha256,
        signer_serial=result.signer_serial,
        signer_organization_id=result.signer_organization_id,
        time_stamp=result.time_stamp,
    )
