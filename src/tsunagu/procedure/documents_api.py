"""JSON API of issued documents: certificate verification (public) and revocation, and the
resident's inbox of decision notices and certificates.

Thin: parse, call :mod:`certificates` / :mod:`inbox` (which check every
permission), shape the answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from tsunagu.core.errors import ValidationError
from tsunagu.core.web import DbSession
from tsunagu.identity import service as identity
from tsunagu.identity.deps import require_login, require_person
from tsunagu.identity.roles import Actor
from tsunagu.procedure import certificates, inbox

router = APIRouter(tags=["procedure"])
Caller = Annotated[Actor, Depends(require_login)]
Person = Annotated[Actor, Depends(require_person)]
MAX_PDF_BYTES = 10 * 1024 * 1024
Kind = Literal["decision", "certificate"]


class RevokeIn(BaseModel):
    reason: Literal["error", "misissued", "request"]


class ContactEmailIn(BaseModel):
    email: str | None = Field(default=None, max_length=254)


def pdf_too_large() -> ValidationError:
    return ValidationError(
        "pdf_too_large",
        "PDF が大きすぎます（10 MB まで）。",
        "The PDF is too large (up to 10 MB).",
    )


@router.get("/api/certificates/{number}")
def certificate_status(number: str, db: DbSession) -> dict[str, Any]:
    """Anyone: issuer, kind, dates and status of a certificate (never its content)."""
    return certificates.verify(db, number).as_dict()


@router.post(
    "/api/certificates/{number}/verify",
    openapi_extra={"requestBody": {"content": {"application/pdf": {}}}},
)
async def certificate_verify(number: str, request: Request, db: DbSession) -> dict[str, Any]:
    """Anyone: the status, and whether the PDF in the body is the one issued and its seal
    signature validates against the platform root."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PDF_BYTES:
            raise pdf_too_large()
    return certificates.verify(db, number, bytes(body)).as_dict()


@router.post("/api/certificates/{number}/revoke")
def certificate_revoke(number: str, data: RevokeIn, db: DbSession, actor: Caller) -> Any:
    """Reviewers of the issuing organization: revoke (the verification then says so)."""
    row = certificates.revoke(db, actor, number, data.reason)
    return certificates.verify(db, row.number).as_dict()


@router.get("/api/me/inbox")
def my_inbox(db: DbSession, actor: Person) -> dict[str, Any]:
    """The person's decision notices and certificates, newest first, with read state."""
    items = inbox.items(db, actor)
    return {
        "unread": sum(not item.read for item in items),
        "items": [item.as_dict() for item in items],
    }


@router.get(
    "/api/me/inbox/{kind}/{item_id}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def inbox_pdf(kind: Kind, item_id: str, db: DbSession, actor: Person) -> Response:
    """One of the person's documents as issued (signed PDF); opening it marks it read."""
    name, pdf = inbox.open_item(db, actor, kind, item_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",  # personal data: never kept by shared caches
        },
    )


@router.post("/api/me/inbox/{kind}/{item_id}/read", status_code=204)
def inbox_read(kind: Kind, item_id: str, db: DbSession, actor: Person) -> Response:
    inbox.mark_read_for(db, actor, kind, item_id)
    return Response(status_code=204)


@router.put("/api/me/contact-email", status_code=204)
def set_contact_email(data: ContactEmailIn, db: DbSession, actor: Person) -> Response:
    """Where to send the hint that a notice arrived (empty or null stops the hints)."""
    assert actor.person_id is not None
    identity.set_contact_email(db, actor.person_id, data.email, actor=actor.label)
    return Response(status_code=204)
