"""Home page, the logged-in party's hub, language switch and health check."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import text

from tsunagu.core.i18n import LANGUAGES
from tsunagu.core.rendering import LANGUAGE_COOKIE, render
from tsunagu.identity.deps import CurrentActor, login_redirect, private_page
from tsunagu.web import navigation

router = APIRouter(include_in_schema=False)

ONE_YEAR = 365 * 24 * 3600


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "web/home.html", {"services": navigation.public()})


@router.get("/me", response_class=HTMLResponse)
def hub(request: Request, actor: CurrentActor) -> Response:
    """ "My page": every page meant for the logged-in party that it may open."""
    if actor is None:
        return login_redirect(request)
    return private_page(request, "web/hub.html", {"entries": navigation.open_to(actor)})


@router.get("/lang/{language}")
def switch_language(language: str, next: str = "/") -> RedirectResponse:
    """Remember the visitor's language and go back where they were."""
    if language not in LANGUAGES:
        raise HTTPException(status_code=404)
    response = RedirectResponse(_same_site_path(next), status_code=303)
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=ONE_YEAR, samesite="lax", httponly=True)
    return response


def _same_site_path(target: str) -> str:
    """``target`` if it is a path on this site, else ``/``: the switch is no open redirect.

    Browsers read ``/\\host`` like ``//host`` and drop tabs and newlines, so
    backslashes and control characters are refused along with schemes and hosts.
    """
    parts = urlsplit(target)
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target)
        or parts.scheme
        or parts.netloc
    ):
        return "/"
    return target


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """Liveness and database reachability, for load balancers."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any failure at all means unhealthy
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
