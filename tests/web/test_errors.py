"""Error pages: HTML for browsers in the visitor's language, JSON under /api/."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.testclient import TestClient

from tsunagu.core.errors import NotFoundError, PermissionDenied, ValidationError

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
SECRET = "password=hunter2 in /srv/tsunagu/secret.py"


class FormInvalid(ValidationError):
    """A domain error that lists every broken field, as registries and forms do."""

    def __init__(self) -> None:
        super().__init__("form_invalid", "入力に誤りがあります。", "The form has errors.")

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "errors": [{"path": "birth_date", "rule": "format"}]}


def _failing_router() -> APIRouter:
    """Routes that fail in every way a module's code can; added only in these tests."""
    router = APIRouter()

    @router.get("/boom")
    @router.get("/api/boom")
    def boom() -> None:
        raise RuntimeError(SECRET)

    @router.get("/forbidden")
    @router.get("/api/forbidden")
    def forbidden() -> None:
        raise PermissionDenied(
            "demo_forbidden", "この申請は閲覧できません。", "You may not see this."
        )

    @router.get("/api/missing-thing")
    def missing() -> None:
        raise NotFoundError("thing_not_found", "見つかりません。", "No such thing.")

    @router.get("/api/invalid-form")
    def invalid_form() -> None:
        raise FormInvalid()

    @router.get("/teapot")
    def teapot() -> None:
        raise HTTPException(status_code=418, detail="I am a teapot")

    @router.get("/api/login-first")
    def login_first() -> None:
        raise HTTPException(status_code=401, headers={"WWW-Authenticate": "Bearer"})

    return router


@pytest.fixture
def failing_client(app: FastAPI) -> Iterator[TestClient]:
    """A client whose app also has the failing routes; server errors become responses."""
    app.include_router(_failing_router())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# --- 404 ------------------------------------------------------------------------------


def test_not_found_page_in_japanese(client: TestClient) -> None:
    response = client.get("/no/such/page", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="ja">' in html
    assert "<title>ページが見つかりません | tsunagu</title>" in html
    assert "お探しのページは見つかりませんでした。" in html
    assert "エラーコード: 404" in html
    assert '<a href="/">ホームに戻る</a>' in html


def test_not_found_page_in_english(client: TestClient) -> None:
    response = client.get("/no/such/page", headers={**HTML, "Accept-Language": "en"})
    assert response.status_code == 404
    html = response.text
    assert '<html lang="en">' in html
    assert '<h1 id="error-title">Page not found</h1>' in html
    assert "The page you were looking for was not found." in html
    assert "/lang/ja?next=%2Fno%2Fsuch%2Fpage" in html, "the switch returns to the same page"


def test_not_found_under_api_is_json_in_both_languages(client: TestClient) -> None:
    response = client.get("/api/no-such-endpoint", headers=HTML)
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "http_404",
            "message_ja": "お探しのページは見つかりませんでした。"
            "アドレスが間違っているか、ページが移動または削除された可能性があります。",
            "message_en": "The page you were looking for was not found. The address may be "
            "mistyped, or the page may have been moved or deleted.",
        }
    }


def test_clients_that_do_not_ask_for_html_get_json(client: TestClient) -> None:
    response = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "http_404"


def test_missing_static_file_is_a_404_page(client: TestClient) -> None:
    response = client.get("/static/nothing.css", headers=HTML)
    assert response.status_code == 404
    assert "ページが見つかりません" in response.text


# --- other HTTP errors keep their headers ---------------------------------------------


def test_method_not_allowed_keeps_allow_header(client: TestClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["error"]["message_ja"] == "このページではこの操作は許可されていません。"


def test_unauthorized_keeps_www_authenticate(failing_client: TestClient) -> None:
    response = failing_client.get("/api/login-first")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["message_en"] == "You need to log in to see this page."


def test_unlisted_status_keeps_the_raisers_detail(failing_client: TestClient) -> None:
    response = failing_client.get("/teapot", headers=HTML)
    assert response.status_code == 418
    assert "I am a teapot" in response.text
    assert "<title>エラー | tsunagu</title>" in response.text


# --- domain errors --------------------------------------------------------------------


def test_domain_error_page_uses_its_own_message(failing_client: TestClient) -> None:
    ja = failing_client.get("/forbidden", headers=HTML)
    assert ja.status_code == 403
    assert "この申請は閲覧できません。" in ja.text
    assert "アクセスできません" in ja.text
    en = failing_client.get("/forbidden?lang=en", headers=HTML)
    assert "You may not see this." in en.text
    assert "Access denied" in en.text


def test_domain_error_under_api_is_json(failing_client: TestClient) -> None:
    response = failing_client.get("/api/missing-thing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "thing_not_found",
            "message_ja": "見つかりません。",
            "message_en": "No such thing.",
        }
    }


def test_domain_error_details_reach_the_api_client(failing_client: TestClient) -> None:
    response = failing_client.get("/api/invalid-form")
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "form_invalid"
    assert body["errors"] == [{"path": "birth_date", "rule": "format"}]


# --- 500 ------------------------------------------------------------------------------


def _assert_nothing_leaks(text: str) -> None:
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert "hunter2" not in text
    assert ".py" not in text


def test_unexpected_error_gives_500_page_without_traceback(
    failing_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tsunagu.web.errors"):
        response = failing_client.get("/boom", headers=HTML)
    assert response.status_code == 500
    html = response.text
    _assert_nothing_leaks(html)
    assert '<html lang="ja">' in html
    assert "<title>システムエラー | tsunagu</title>" in html
    assert "システムエラーが発生しました。" in html
    reference = re.search(r'<code class="error-page__reference">([0-9a-f]{12})</code>', html)
    assert reference, "the page gives a reference to quote"

    logged = [r for r in caplog.records if reference.group(1) in r.getMessage()]
    assert logged, "the reference is logged"
    assert logged[0].exc_info and logged[0].exc_info[0] is RuntimeError, "with the traceback"


def test_unexpected_error_page_in_english(failing_client: TestClient) -> None:
    response = failing_client.get("/boom", headers={**HTML, "Accept-Language": "en-GB"})
    assert response.status_code == 500
    _assert_nothing_leaks(response.text)
    assert '<html lang="en">' in response.text
    assert "A system error occurred." in response.text


def test_unexpected_error_under_api_is_json_without_traceback(failing_client: TestClient) -> None:
    response = failing_client.get("/api/boom", headers=HTML)
    assert response.status_code == 500
    _assert_nothing_leaks(response.text)
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["message_ja"].startswith("システムエラーが発生しました。")
    assert error["message_en"].startswith("A system error occurred.")
    assert re.fullmatch(r"[0-9a-f]{12}", error["reference"])
