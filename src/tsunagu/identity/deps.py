"""FastAPI dependencies every module uses to know who is calling and to guard changes.

- ``current_session``: the ``Actor`` of the request's session cookie, or None.
  For a state-changing method (anything but GET/HEAD/OPTIONS) it also checks
  the CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``), so
  every cookie-authenticated change is CSRF-protected by construction.
- ``require_login``, ``require_person``, ``require_official(role=...)``,
  ``require_member``, ``require_assurance(ial=..., aal=...)``: 401/403 otherwise.

Cookies are HttpOnly, SameSite=Lax, and Secure whenever the site runs on https.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException

from tsunagu.core.config import Settings
from tsunagu.core.errors import PermissionDenied
from tsunagu.core.rendering import render, with_lang
from tsunagu.core.web import DbSession
from tsunagu.identity import roles, sessions
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import OfficialRole

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_STATE_KEY = "tsunagu_actor"


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def session_token(request: Request) -> str | None:
    return request.cookies.get(sessions.COOKIE)


def csrf_for(request: Request) -> str:
    """The CSRF token pages embed in their forms (empty when logged out)."""
    token = session_token(request)
    return sessions.csrf_token(settings_of(request).secret_key, token) if token else ""


async def _presented_csrf(request: Request) -> str | None:
    header = request.headers.get(sessions.CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(sessions.CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def login_redirect(request: Request) -> RedirectResponse:
    """For pages: to the login page, which brings the visitor back to this page afterwards.

    Both keep the ``?lang=`` the page was asked in.
    """
    back = with_lang(request, request.url.path)
    return RedirectResponse(with_lang(request, f"/login?{urlencode({'next': back})}"), 303)


def private_page(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """A page about a person: rendered with the visitor's CSRF token, never cached."""
    response = render(request, template, {"csrf_token": csrf_for(request), **context}, status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def _csrf_failed() -> PermissionDenied:
    return PermissionDenied(
        "csrf_failed",
        "フォームの有効期限が切れたか、不正な送信です。ページを開き直してください。",
        "The form expired or the request was forged (CSRF check failed); reload the page.",
    )


async def current_session(request: Request, db: DbSession) -> Actor | None:
    """The logged-in actor; state-changing requests must carry the CSRF token."""
    if hasattr(request.state, _STATE_KEY):
        cached: Actor | None = getattr(request.state, _STATE_KEY)
        return cached
    token = session_token(request)
    actor = sessions.resolve(db, token)
    if actor is not None and token and request.method not in SAFE_METHODS:
        presented = await _presented_csrf(request)
        if not sessions.csrf_ok(settings_of(request).secret_key, token, presented):
            raise _csrf_failed()
    setattr(request.state, _STATE_KEY, actor)
    return actor


CurrentActor = Annotated[Actor | None, Depends(current_session)]


def _unauthenticated() -> HTTPException:
    return HTTPException(status_code=401, detail="login required")


# The checks below do no I/O, so they are ``async``: FastAPI runs a plain ``def``
# dependency in its thread pool, a hand-off to a thread and back on every request.


async def require_login(actor: CurrentActor) -> Actor:
    if actor is None:
        raise _unauthenticated()
    return actor


async def require_person(actor: CurrentActor) -> Actor:
    if actor is None:
        raise _unauthenticated()
    return roles.require_person(actor)


async def require_member(actor: CurrentActor) -> Actor:
    """A business member session, or a person who is a business member (checked in service)."""
    if actor is None:
        raise _unauthenticated()
    return actor


def require_official(role: OfficialRole | None = None) -> Callable[..., Awaitable[Actor]]:
    """Dependency: an official's session (holding ``role`` when given)."""

    async def dependency(actor: CurrentActor) -> Actor:
        if actor is None:
            raise _unauthenticated()
        if actor.kind is not ActorKind.OFFICIAL or (role is not None and role not in actor.roles):
            raise PermissionDenied(
                "official_required",
                "職員としてのログイン (必要な役割) が必要です。",
                "You need to log in as an official"
                + (f" with the role {role.value}." if role else "."),
            )
        return actor

    return dependency


def require_assurance(ial: int = 1, aal: int = 1) -> Callable[..., Awaitable[Actor]]:
    """Dependency: a session whose identity and authenticator levels reach ``ial``/``aal``."""

    async def dependency(actor: CurrentActor) -> Actor:
        if actor is None:
            raise _unauthenticated()
        return roles.require_assurance(actor, ial=ial, aal=aal)

    return dependency


def set_session_cookie(request: Request, response: Response, started: sessions.Started) -> None:
    """Secure (on https), HttpOnly, SameSite=Lax, expiring with the session."""
    secure = request.url.scheme == "https" or settings_of(request).base_url.startswith("https:")
    response.set_cookie(
        sessions.COOKIE,
        started.token,
        max_age=int(sessions.SESSION_TTL.total_seconds()),
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(sessions.COOKIE, path="/")
