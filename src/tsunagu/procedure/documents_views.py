"""Pages of issued documents: the public certificate verification page and the resident's
inbox of decision notices and certificates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from tsunagu.core.errors import TsunaguError
from tsunagu.core.rendering import render, request_language
from tsunagu.core.web import DbSession
from tsunagu.identity.deps import CurrentActor, csrf_for, login_redirect, private_page
from tsunagu.procedure import certificates, inbox
from tsunagu.procedure.documents_api import MAX_PDF_BYTES, pdf_too_large

router = APIRouter(include_in_schema=False)


def _verify_page(
    request: Request, number: str, result: certificates.Verification | None,
    error: TsunaguError | None, *, uploaded: bool = False,
) -> HTMLResponse:  # fmt: skip
    return render(
        request,
        "procedure/verify.html",
        {
            "number": number,
            "result": result,
            "uploaded": uploaded,
            "error": error.message(request_language(request)) if error else None,
            "csrf": csrf_for(request),
        },
        status_code=error.status_code if error else 200,
    )


@router.get("/certificates/verify", response_class=HTMLResponse)
def verify_page(
    request: Request, db: DbSession, number: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    """Anyone: the status of a certificate by its number (issuer, kind, dates, status)."""
    if not number:
        return _verify_page(request, "", None, None)
    try:
        return _verify_page(request, number, certificates.verify(db, number), None)
    except TsunaguError as error:
        return _verify_page(request, number, None, error)


@router.post("/certificates/verify", response_class=HTMLResponse)
def verify_upload(
    request: Request,
    db: DbSession,
    actor: CurrentActor,  # checks the CSRF token of a logged-in visitor
    number: Annotated[str, Form(max_length=64)] = "",
    pdf: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Anyone: the status, and whether the uploaded PDF is the one issued and validates."""
    try:
        content = None
        if pdf is not None and pdf.filename:
            content = pdf.file.read(MAX_PDF_BYTES + 1)
            if len(content) > MAX_PDF_BYTES:
                raise pdf_too_large()
        result = certificates.verify(db, number, content)
        return _verify_page(request, number, result, None, uploaded=content is not None)
    except TsunaguError as error:
        return _verify_page(request, number, None, error)


@router.get("/inbox", response_class=HTMLResponse, response_model=None)
def inbox_page(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    """The person's notices and certificates, newest first, unread ones marked."""
    if actor is None:
        return login_redirect(request)
    items: list[Any] = inbox.items(db, actor)
    return private_page(
        request,
        "procedure/inbox.html",
        {"items": items, "unread": sum(not item.read for item in items)},
    )
