"""Error pages (HTML for browsers, JSON for the API) in Japanese and English."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tsunagu.core.errors import TsunaguError
from tsunagu.core.rendering import render, request_language

log = logging.getLogger(__name__)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


def _error_response(request: Request, status: int, message_ja: str, message_en: str, code: str) -> Response:
    if _wants_json(request):
        return JSONResponse(
            {"error": {"code": code, "message_ja": message_ja, "message_en": message_en}},
            status_code=status,
        )
    language = request_language(request)
    return render(
        request,
        "web/error.html",
        {"status": status, "message": message_en if language == "en" else message_ja},
        status_code=status,
    )


STANDARD_MESSAGES = {
    404: ("お探しのページは見つかりませんでした。", "The page you were looking for was not found."),
    405: ("この操作は許可されていません。", "This method is not allowed."),
    401: ("ログインが必要です。", "You need to log in."),
    403: ("この操作を行う権限がありません。", "You are not allowed to do this."),
}


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        ja, en = STANDARD_MESSAGES.get(exc.status_code, (str(exc.detail), str(exc.detail)))
        if exc.status_code not in STANDARD_MESSAGES and isinstance(exc.detail, str):
            ja = en = exc.detail
        return _error_response(request, exc.status_code, ja, en, f"http_{exc.status_code}")

    @app.exception_handler(TsunaguError)
    async def domain_error(request: Request, exc: TsunaguError) -> Response:
        return _error_response(request, exc.status_code, exc.message_ja, exc.message_en, exc.code)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return _error_response(
            request,
            500,
            "システムエラーが発生しました。時間をおいて再度お試しください。",
            "A system error occurred. Please try again later.",
            "internal_error",
        )
