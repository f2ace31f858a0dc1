"""Server-side HTML rendering shared by every module's views.

Templates live in ``<module>/templates/<module>/…``; the layout in
``web/templates/``. Every page gets the negotiated language, a gettext
function and the URL to switch language, so no view has to remember them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from tsunagu.core.clock import to_tokyo
from tsunagu.core.i18n import LANGUAGE_NAMES, LANGUAGES, negotiate, translations

PACKAGE_DIR = Path(__file__).resolve().parent.parent
LANGUAGE_COOKIE = "tsunagu_lang"


@lru_cache(maxsize=1)
def environment() -> Environment:
    folders = sorted(str(p) for p in PACKAGE_DIR.glob("*/templates") if p.is_dir())
    env = Environment(
        loader=FileSystemLoader(folders),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tokyo"] = lambda moment, fmt="%Y-%m-%d %H:%M": to_tokyo(moment).strftime(fmt)
    return env


def request_language(request: Request) -> str:
    """``?lang=`` for this request, else the saved choice, else Accept-Language, else Japanese.

    An unknown value at one level falls through to the next, so a stale or
    mistyped ``?lang=`` never overrides the visitor's saved choice.
    """
    for chosen in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if chosen is not None and chosen in LANGUAGES:
            return chosen
    return negotiate(None, request.headers.get("accept-language"))


def language_url(request: Request, language: str) -> str:
    """Link that switches to ``language`` and comes back to this page.

    A ``lang`` query parameter is dropped from the way back: it would
    override the choice the visitor has just made.
    """
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"])
    back = request.url.path + (f"?{query}" if query else "")
    return f"/lang/{language}?{urlencode({'next': back})}"


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render ``template`` in the request's language.

    The response says which language it is in and that it varies with the
    visitor's choice, so shared caches never serve one language for the other.
    """
    language = request_language(request)
    catalog = translations(language)
    page = environment().get_template(template)
    html = page.render(
        request=request,
        lang=language,
        languages=LANGUAGES,
        language_names=LANGUAGE_NAMES,
        language_url=lambda target: language_url(request, target),
        # "?lang=…" for a form or link when this page was asked with ?lang= (see with_lang)
        lang_query=lambda: with_lang(request, ""),
        _=catalog.gettext,
        gettext=catalog.gettext,
        ngettext=catalog.ngettext,
        # one English word, two meanings across modules (e.g. the verb on a button)
        pgettext=catalog.pgettext,
        **(context or {}),
    )
    headers = {"Content-Language": language, "Vary": "Accept-Language, Cookie"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def see_other(request: Request, path: str) -> RedirectResponse:
    """303 to ``path``, keeping the ``?lang=`` this request was made in.

    ``?lang=`` chooses the language of one request only, so a visitor who
    came by a ``?lang=en`` link and saved no choice would land on a Japanese
    page after the first POST. Pages keep it in their forms and links the same
    way, with ``lang_query()`` (given to every template by :func:`render`).
    """
    return RedirectResponse(with_lang(request, path), status_code=303)


def with_lang(request: Request, path: str) -> str:
    """``path`` with the ``?lang=`` this request was made in, if any."""
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        path += ("&" if "?" in path else "?") + urlencode({"lang": chosen})
    return path
