"""Documents uploaded to an application — only where no register holds the facts.

A form field whose schema says ``format: upload`` holds the id of one
uploaded file (罹災証明書: photos of the damage). Files are limited in size
(``upload_max_bytes``) and to PDF, PNG and JPEG, recognised by their first
bytes rather than their name or the browser's word. They are stored outside
the web root under ``<var_dir>/uploads`` with a random name and handed out
only to whoever may read the application (its applicant and subject, and the
owning organization's reviewers). The audit trail records ids, type and
size, never the content or the file name.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import NotFoundError, ValidationError
from tsunagu.identity.roles import Actor
from tsunagu.procedure import service
from tsunagu.procedure.models import ApplicationUpload

FORMAT = "upload"
# content type by leading bytes
MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
MAX_NAME = 200


def folder(settings: Settings) -> Path:
    return settings.var_dir / "uploads"


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are (PDF, PNG or JPEG), or None."""
    return next((kind for magic, kind in MAGIC if data.startswith(magic)), None)


def _clean_name(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name.strip()
    printable = "".join(c for c in name if c.isprintable())
    return (printable or "upload")[-MAX_NAME:]


def store(
    session: Session,
    settings: Settings,
    actor: Actor,
    application_id: str,
    field: str,
    filename: str,
    data: bytes,
) -> ApplicationUpload:
    """Keep one file for an upload field of an application its filer may still change."""
    app, definition = service.editable(session, actor, application_id)
    form_field = definition.form.field(field)
    if form_field is None or form_field.schema.get("format") != FORMAT:
        raise ValidationError(
            "not_an_upload_field",
            "この項目にはファイルを添付できません。",
            "This field takes no file.",
        )
    limit = settings.upload_max_bytes
    if not data or len(data) > limit:
        mib = limit / (1024 * 1024)
        raise ValidationError(
            "upload_size",
            f"ファイルは {mib:g} MB 以下にしてください（空のファイルは添付できません）。",
            f"The file must be at most {mib:g} MB (and not empty).",
        )
    content_type = sniff(data)
    if content_type is None:
        raise ValidationError(
            "upload_type",
            "添付できるのは PDF、PNG、JPEG のファイルだけです。",
            "Only PDF, PNG and JPEG files can be uploaded.",
        )
    target = folder(settings)
    target.mkdir(parents=True, exist_ok=True)
    stored_name = secrets.token_hex(16)
    (target / stored_name).write_bytes(data)
    row = ApplicationUpload(
        id=str(uuid.uuid4()),
        application_id=app.id,
        field=field,
        filename=_clean_name(filename),
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        stored_name=stored_name,
        uploaded_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor.label,
        action="procedure.uploaded",
        object_type="application",
        object_id=app.id,
        data={"upload_id": row.id, "content_type": content_type, "size": len(data)},
    )
    return row


def get(session: Session, actor: Actor, application_id: str, upload_id: str) -> ApplicationUpload:
    """The upload's record, for whoever may read the application."""
    app = service.get(session, actor, application_id)
    row = session.get(ApplicationUpload, upload_id)
    if row is None or row.application_id != app.id:
        raise NotFoundError("upload_not_found", "添付ファイルがありません。", "No such upload.")
    return row


def content(settings: Settings, row: ApplicationUpload) -> bytes:
    """The stored bytes, checked against the digest recorded at upload."""
    data = (folder(settings) / row.stored_name).read_bytes()
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise NotFoundError(
            "upload_damaged", "添付ファイルが破損しています。", "The stored file is damaged."
        )
    return data


def of_application(
    session: Session, application_id: str, ids: set[str]
) -> dict[str, ApplicationUpload]:
    """The application's uploads among ``ids`` (those its form names), by id."""
    rows = [session.get(ApplicationUpload, i) for i in ids]
    return {r.id: r for r in rows if r is not None and r.application_id == application_id}
