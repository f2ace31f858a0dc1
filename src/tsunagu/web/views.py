"""Home page, language switch and health check."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import text

from tsunagu.core.i18n import LANGUAGES
from tsunagu.core.rendering import LANGUAGE_COOKIE, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "web/home.html")


@router.get("/lang/{language}")
def switch_language(request: Request, language: str, next: str = "/") -> RedirectResponse:
    """Remember the visitor's language and go back where they were (same site only)."""
    target = next if next.startswith("/") and not urlsplit(next).netloc and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if language in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    return response


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """Liveness and database reachability, for load balancers."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
