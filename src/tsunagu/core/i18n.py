"""Translations from Babel message catalogs (``locales/<lang>/LC_MESSAGES/messages.po``).

Message ids are English; the Japanese catalog translates every one of them
(a test extracts all messages and fails on any missing Japanese entry), the
English catalog may leave ``msgstr`` empty so the id itself is shown.
Catalogs are compiled in memory at first use, so a checkout runs without a
separate compile step; ``make messages`` (``pybabel extract`` with the
repository's ``babel.cfg``, then ``pybabel update``) maintains the ``.po`` files.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("ja", "en")
# Each language named in itself, as a switch must be readable by those who need it.
LANGUAGE_NAMES = {"ja": "日本語", "en": "English"}
DEFAULT_LANGUAGE = "ja"
DOMAINS = ("messages",)


def N_(message: str) -> str:
    """Mark ``message`` for extraction where it is defined; translate it later, per request."""
    return message


def translate(language: str, message: str) -> str:
    """``message`` translated into ``language``."""
    return translations(language).gettext(message)


@cache
def translations(language: str) -> gettext.NullTranslations:
    """Compiled catalog for ``language``; unknown languages fall back to msgids."""
    po_path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def negotiate(chosen: str | None, accept_language: str | None) -> str:
    """The user's explicit choice wins; else the best Accept-Language match; else Japanese."""
    if chosen in LANGUAGES:
        return chosen
    for part in _by_quality(accept_language or ""):
        primary = part.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def _by_quality(header: str) -> list[str]:
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        if not tag:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag))
    return [tag for q, _, tag in sorted(ranked) if q < 0]
