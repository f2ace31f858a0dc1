"""Home page, layout, language choice and switch, health check and API docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tsunagu.core.config import Settings
from tsunagu.core.rendering import LANGUAGE_COOKIE
from tsunagu.web.app import create_app

JA_TITLE = "つながる行政サービス"
EN_TITLE = "Government services, connected"


def page_language(html: str) -> str:
    match = re.search(r'<html lang="([a-z]+)">', html)
    assert match, "page has no <html lang>"
    return match.group(1)


# --- home page ------------------------------------------------------------------------


def test_home_explains_the_services_in_japanese(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert page_language(html) == "ja"
    for text in (
        JA_TITLE,
        "デジタルファースト",
        "ワンスオンリー",
        "コネクテッド・ワンストップ",
        "住民の方へ",
        "職員の方へ",
        "事業者の方へ",
        "オープンデータカタログ",
        "計画のKPI",
    ):
        assert text in html
    assert EN_TITLE not in html


def test_home_explains_the_services_in_english(client: TestClient) -> None:
    html = client.get("/?lang=en").text
    assert page_language(html) == "en"
    for text in (
        EN_TITLE,
        "Digital first",
        "Once only",
        "Connected one-stop",
        "For residents",
        "For officials",
        "For businesses",
        "Open data catalog",
        "Plan KPIs",
    ):
        assert text in html
    assert JA_TITLE not in html


def test_layout_has_skip_link_landmarks_and_language_of_the_other_link(
    client: TestClient,
) -> None:
    html = client.get("/").text
    body = html.split("<body>", 1)[1].lstrip()
    assert body.startswith('<a class="skip-link" href="#main">本文へスキップ</a>')
    assert '<main id="main"' in html
    for landmark in ("<header", "<footer", '<nav class="language-switch" aria-label="言語">'):
        assert landmark in html
    assert re.search(r'<a [^>]*href="/lang/en\?next=%2F" lang="en" hreflang="en">English</a>', html)
    assert 'hreflang="ja"' not in html, "the current language is not offered as a switch"

    english = client.get("/?lang=en").text
    assert re.search(r'<a [^>]*lang="ja" hreflang="ja">日本語</a>', english)


def test_pages_declare_their_language_for_caches(client: TestClient) -> None:
    response = client.get("/?lang=en")
    assert response.headers["content-language"] == "en"
    assert "Accept-Language" in response.headers["vary"]
    assert "Cookie" in response.headers["vary"]


def test_stylesheets_are_served(client: TestClient) -> None:
    own = client.get("/static/tsunagu.css")
    assert own.status_code == 200
    assert "var(--color-primitive-blue-1000)" in own.text
    tokens = client.get("/static/vendor/tokens.css")
    assert tokens.status_code == 200, "design tokens missing: run `make assets`"
    assert "--color-primitive-blue-1000" in tokens.text


# --- language choice: ?lang=, then cookie, then Accept-Language, then Japanese ----------


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        (None, "ja"),
        ("en-US,en;q=0.9", "en"),
        ("ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        ("fr-FR, en;q=0.5", "en"),
        ("de-DE, fr;q=0.8", "ja"),
        ("en;q=0.2, ja;q=0.7", "ja"),
        ("en;q=0, *", "ja"),
        ("garbage;;q=x,,", "ja"),
    ],
)
def test_accept_language_decides_without_a_choice(
    client: TestClient, accept_language: str | None, expected: str
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    assert page_language(client.get("/", headers=headers).text) == expected


def test_saved_choice_beats_accept_language(client: TestClient) -> None:
    client.cookies.set(LANGUAGE_COOKIE, "en")
    assert page_language(client.get("/", headers={"Accept-Language": "ja"}).text) == "en"


def test_query_beats_saved_choice_and_unknown_values_fall_through(client: TestClient) -> None:
    client.cookies.set(LANGUAGE_COOKIE, "en")
    assert page_language(client.get("/?lang=ja").text) == "ja"
    assert page_language(client.get("/?lang=xx").text) == "en"
    client.cookies.set(LANGUAGE_COOKIE, "klingon")
    assert page_language(client.get("/", headers={"Accept-Language": "en"}).text) == "en"


# --- language switch ------------------------------------------------------------------


def test_switch_saves_the_choice_and_returns_to_the_page(client: TestClient) -> None:
    response = client.get("/lang/en?next=/somewhere%3Fq%3D1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/somewhere?q=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{LANGUAGE_COOKIE}=en;")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=31536000" in cookie
    assert page_language(client.get("/", headers={"Accept-Language": "ja"}).text) == "en"

    client.get("/lang/ja", follow_redirects=False)
    assert page_language(client.get("/").text) == "ja"


def test_switch_link_keeps_the_query_but_not_a_lang_parameter(client: TestClient) -> None:
    html = client.get("/?lang=ja&q=%E6%B8%8B%E8%B0%B7&page=2").text
    link = re.search(r'href="(/lang/en\?next=[^"]+)"', html)
    assert link
    target = client.get(link.group(1).replace("&amp;", "&"), follow_redirects=False)
    assert target.headers["location"] == "/?q=%E6%B8%8B%E8%B0%B7&page=2"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        "evil.example",
        "",
    ],
)
def test_switch_never_redirects_off_site(client: TestClient, target: str) -> None:
    response = client.get("/lang/en", params={"next": target}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_switch_to_unknown_language_is_not_found(client: TestClient) -> None:
    response = client.get("/lang/fr", follow_redirects=False)
    assert response.status_code == 404
    assert "set-cookie" not in response.headers


# --- operations -----------------------------------------------------------------------


def test_healthz_reports_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_unreachable_database(tmp_path: Path) -> None:
    # Port 1 on the loopback: nothing listens there, the connection is refused at once.
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    settings = Settings(database_url=unreachable, var_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}


def test_openapi_document_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    document = spec.json()
    assert document["info"]["title"] == "tsunagu"
    assert document["openapi"].startswith("3.")
    assert "/api/audit/roots" in document["paths"]
    assert not any(path.startswith("/lang/") for path in document["paths"]), "pages stay out"

    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert "/api/openapi.json" in docs.text
