"""Translations from Babel message catalogs (``locales/<lang>/LC_MESSAGES/*.po``).

``messages.po`` holds the core and web shell; every other module keeps its own
domain (``opendata.po``, ``trust.po`` …) so modules never edit each other's
catalogs. At run time all domains of a language are merged into one lookup.

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


def N_(message: str) -> str:
    """Mark ``message`` for extraction where it is defined; translate it later, per request."""
    return message


def translate(language: str, message: str) -> str:
    """``message`` translated into ``language``."""
    return translations(language).gettext(message)


def catalog_paths(language: str) -> list[Path]:
    """The ``.po`` files of ``language``: ``messages.po`` first, then modules by name."""
    folder = LOCALES_DIR / language / "LC_MESSAGES"
    return sorted(folder.glob("*.po"), key=lambda path: (path.stem != "messages", path.stem))


def _compile(po_path: Path, language: str) -> gettext.GNUTranslations:
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def translations(language: str) -> gettext.NullTranslations:
    """All catalogs of ``language`` merged; unknown languages fall back to msgids."""
    merged: gettext.NullTranslations = gettext.NullTranslations()
    for po_path in reversed(catalog_paths(language)):
        compiled = _compile(po_path, language)
        compiled.add_fallback(merged)
        merged = compiled
    return merged


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
