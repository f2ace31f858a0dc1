"""Error pages (HTML for browsers, JSON for the API) in Japanese and English.

Whatever goes wrong, the visitor gets a page in their language that says
what happened and what to do next; an unexpected error shows a reference
that is also logged with the traceback, and never the traceback itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tsunagu.core.errors import TsunaguError
from tsunagu.core.i18n import N_, translate
from tsunagu.core.rendering import render, request_language

log = logging.getLogger(__name__)

# (title, explanation) per status, English msgids translated by the catalogs.
STANDARD_MESSAGES: dict[int, tuple[str, str]] = {
    400: (
        N_("Bad request"),
        N_("The request could not be processed. Please check what you entered and try again."),
    ),
    401: (N_("Login required"), N_("You need to log in to see this page.")),
    403: (N_("Access denied"), N_("You are not allowed to do this.")),
    404: (
        N_("Page not found"),
        N_(
            "The page you were looking for was not found. The address may be mistyped, "
            "or the page may have been moved or deleted."
        ),
    ),
    405: (N_("Operation not allowed"), N_("This operation is not allowed on this page.")),
    409: (
        N_("Conflict"),
        N_("The request conflicts with the current state. Please reload and try again."),
    ),
    422: (
        N_("Invalid input"),
        N_("Some of what you entered is not valid. Please check it and try again."),
    ),
    500: (
        N_("System error"),
        N_("A system error occurred. We are sorry for the inconvenience. Please try again later."),
    ),
    503: (
        N_("Service unavailable"),
        N_("The service is temporarily unavailable. Please try again later."),
    ),
}
GENERIC_TITLE = N_("Error")


@dataclass(frozen=True)
class ErrorReport:
    """One failure as shown to a visitor; messages are given in both languages."""

    status: int
    code: str
    message_ja: str
    message_en: str
    reference: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def standard(
        cls, status: int, code: str | None = None, reference: str | None = None
    ) -> ErrorReport:
        """The catalog's explanation of ``status``."""
        message = STANDARD_MESSAGES[status][1]
        return cls(status, code or f"http_{status}", translate("ja", message), message, reference)


_REPORT_KEYS = {"code", "message_ja", "message_en", "reference"}


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/api/") or "text/html" not in accept


def _respond(request: Request, report: ErrorReport, headers: Mapping[str, str] | None) -> Response:
    if _wants_json(request):
        body: dict[str, Any] = {
            **report.details,
            "code": report.code,
            "message_ja": report.message_ja,
            "message_en": report.message_en,
        }
        if report.reference:
            body["reference"] = report.reference
        return JSONResponse({"error": body}, status_code=report.status, headers=headers)
    language = request_language(request)
    title = STANDARD_MESSAGES.get(report.status, (GENERIC_TITLE, ""))[0]
    response = render(
        request,
        "web/error.html",
        {
            "status": report.status,
            "title": translate(language, title),
            "message": report.message_en if language == "en" else report.message_ja,
            "reference": report.reference,
        },
        status_code=report.status,
    )
    response.headers.update(headers or {})
    return response


def _http_report(exc: StarletteHTTPException) -> ErrorReport:
    """Known statuses get the catalog's words; others keep the raiser's own detail."""
    if exc.status_code in STANDARD_MESSAGES:
        return ErrorReport.standard(exc.status_code)
    detail = str(exc.detail)
    return ErrorReport(exc.status_code, f"http_{exc.status_code}", detail, detail)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into an error page."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _respond(request, _http_report(exc), exc.headers)

    @app.exception_handler(TsunaguError)
    async def domain_error(request: Request, exc: TsunaguError) -> Response:
        # Subclasses may add structured details (e.g. every field error) to as_dict().
        details = {k: v for k, v in exc.as_dict().items() if k not in _REPORT_KEYS}
        report = ErrorReport(
            exc.status_code, exc.code, exc.message_ja, exc.message_en, None, details
        )
        return _respond(request, report, exc.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        reference = uuid.uuid4().hex[:12]
        log.error("unhandled error on %s (reference %s)", request.url.path, reference, exc_info=exc)
        return _respond(request, ErrorReport.standard(500, "internal_error", reference), None)
