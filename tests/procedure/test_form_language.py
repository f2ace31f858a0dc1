"""A resident who browses with ``?lang=`` (and no saved choice) stays in that language through
every POST and redirect of the form flow: apply, save, errors, review, sign, status, withdraw."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from .conftest import Login, World
from .test_forms import _tennyu_fields

FORM_ACTION = re.compile(r'<form class="form" method="post" action="([^"]+)"')


def _action(page: str) -> str:
    """Where the page's (first) form posts, as the browser would read it."""
    match = FORM_ACTION.search(page)
    assert match, page
    return match.group(1).replace("&amp;", "&")


def _follow(browser: TestClient, response_location: str) -> str:
    page = browser.get(response_location)
    assert page.status_code == 200, page.text
    return page.text


ENGLISH = {
    "form": "Application form",
    "error": "Town: enter a value.",
    "saved": "The draft was saved.",
    "review": "Check your application",
    "sign": "Sign and submit",
}
JAPANESE = {
    "form": "申請書",
    "error": "「町名」を入力してください。",
    "saved": "下書きを保存しました",
    "review": "申請内容の確認",
    "sign": "署名して提出",
}


@pytest.mark.parametrize(("language", "words"), [("en", ENGLISH), ("ja", JAPANESE)])
def test_the_language_of_the_link_is_kept_through_every_post_and_redirect(
    world: World, login: Login, language: str, words: dict[str, str]
) -> None:
    hanako = login(person=world.hanako)
    procedure = hanako.get(f"/procedures/tennyu?lang={language}").text
    applied = hanako.post(_action(procedure), follow_redirects=False)
    assert applied.status_code == 303
    location = applied.headers["location"]
    assert location.endswith(f"/form?lang={language}")
    form = _follow(hanako, location)
    assert words["form"] in form
    # a refused "next" answers in the page's language
    refused = hanako.post(
        _action(form), data={**_tennyu_fields(**{"f.new_address.town": ""}), "action": "next"}
    )
    assert refused.status_code == 422 and refused.headers["content-language"] == language
    assert words["error"] in refused.text
    # saving comes back to the form, saying so in the page's language
    saved = hanako.post(
        _action(refused.text), data={**_tennyu_fields(), "action": "save"}, follow_redirects=False
    )
    assert saved.headers["location"].endswith(f"/form?saved=1&lang={language}")
    assert words["saved"] in _follow(hanako, saved.headers["location"])
    # "next" goes on to the review, then the signature page, in the same language
    review = hanako.post(
        _action(form), data={**_tennyu_fields(), "action": "next"}, follow_redirects=False
    )
    assert review.headers["location"].endswith(f"/review?lang={language}")
    review_page = _follow(hanako, review.headers["location"])
    assert words["review"] in review_page
    sign_link = re.search(r'class="button" href="([^"]+/sign[^"]*)"', review_page)
    assert sign_link and sign_link.group(1).endswith(f"/sign?lang={language}")
    sign_page = _follow(hanako, sign_link.group(1))
    assert words["sign"] in sign_page
    # a refused signature answers in the page's language, and its forms keep it
    unsigned = hanako.post(_action(sign_page), data={"cms": ""})
    assert unsigned.status_code == 422 and unsigned.headers["content-language"] == language
    assert f'/sign?lang={language}"' in unsigned.text


def test_withdrawing_keeps_the_language(world: World, login: Login) -> None:
    hanako = login(person=world.hanako)
    procedure = hanako.get("/procedures/tennyu?lang=en").text
    location = hanako.post(_action(procedure), follow_redirects=False).headers["location"]
    status = hanako.get(location.replace("/form", "")).text
    withdraw = re.search(r'method="post" action="([^"]+/withdraw[^"]*)"', status)
    assert withdraw and withdraw.group(1).endswith("/withdraw?lang=en")
    done = hanako.post(withdraw.group(1), follow_redirects=False)
    assert done.headers["location"].endswith("?done=withdrawn&lang=en")
    assert "The application was withdrawn." in _follow(hanako, done.headers["location"])


def test_a_saved_choice_is_kept_without_lang_in_the_address(world: World, login: Login) -> None:
    """The cookie of /lang/en keeps working, and a redirect adds no ``?lang=`` on its own."""
    hanako = login(person=world.hanako)
    hanako.get("/lang/en", follow_redirects=False)
    applied = hanako.post("/procedures/tennyu/apply", follow_redirects=False)
    assert applied.headers["location"].endswith("/form")
    refused = hanako.post(
        applied.headers["location"],
        data={**_tennyu_fields(**{"f.new_address.town": ""}), "action": "next"},
    )
    assert refused.headers["content-language"] == "en" and "Town: enter a value." in refused.text
