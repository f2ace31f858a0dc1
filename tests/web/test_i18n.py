"""Message catalogs: every string that can be shown has a Japanese translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tsunagu.core.i18n import catalog_paths, negotiate, translate

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "src" / "tsunagu"
BABEL_CFG = REPO / "babel.cfg"


def _catalogs(language: str) -> list[Catalog]:
    catalogs = []
    for path in catalog_paths(language):
        with path.open("rb") as handle:
            catalogs.append(read_po(handle, locale=language, domain=path.stem))
    return catalogs


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[str]]:
    """msgid -> where it is used, extracted as ``pybabel extract -F babel.cfg`` does."""
    with BABEL_CFG.open() as handle:
        method_map, options_map = parse_mapping_cfg(handle, str(BABEL_CFG))
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(SOURCE), method_map, options_map
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, []).append(f"src/tsunagu/{filename}:{lineno}")
    return found


def test_extraction_covers_templates_and_python(extracted: dict[str, list[str]]) -> None:
    places = {place.split(":")[0] for places in extracted.values() for place in places}
    assert "src/tsunagu/web/templates/web/layout.html" in places
    assert "src/tsunagu/web/templates/web/home.html" in places
    assert "src/tsunagu/web/errors.py" in places
    assert not any(place.startswith(("tests/", "node_modules/")) for place in places)


def test_every_message_has_a_japanese_translation(extracted: dict[str, list[str]]) -> None:
    catalogs = _catalogs("ja")
    missing = []
    for msgid, places in sorted(extracted.items()):
        if not any(_translated(catalog, msgid) for catalog in catalogs):
            missing.append(f"{msgid!r} ({places[0]})")
    assert not missing, (
        "untranslated in src/tsunagu/locales/ja/LC_MESSAGES/<domain>.po "
        "(run `make messages`, then translate):\n" + "\n".join(missing)
    )


def _translated(catalog: Catalog, msgid: str) -> bool:
    entry = catalog.get(msgid)
    if entry is None or entry.fuzzy:
        return False
    strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
    return all(strings)


@pytest.mark.parametrize("language", ["ja", "en"])
def test_catalogs_are_well_formed(language: str) -> None:
    for catalog in _catalogs(language):
        assert str(catalog.locale) == language
        problems = [(message.id, errors) for message, errors in catalog.check()]
        assert not problems, (catalog.domain, problems)


def test_english_catalog_falls_back_to_the_message_id() -> None:
    assert translate("en", "Skip to main content") == "Skip to main content"
    assert translate("ja", "Skip to main content") == "本文へスキップ"
    assert translate("ja", "a message nobody wrote") == "a message nobody wrote"


@pytest.mark.parametrize(
    ("chosen", "accept_language", "expected"),
    [
        ("en", "ja", "en"),
        ("ja", "en", "ja"),
        ("xx", "en", "en"),
        (None, "EN-us", "en"),
        (None, "", "ja"),
        (None, None, "ja"),
        (None, "en;q=0.5, ja;q=0.5", "en"),
        (None, "en;q=abc, ja", "ja"),
    ],
)
def test_negotiate(chosen: str | None, accept_language: str | None, expected: str) -> None:
    assert negotiate(chosen, accept_language) == expected
