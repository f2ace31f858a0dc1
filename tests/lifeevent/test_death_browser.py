"""The death form in headless Chromium when the head may be the one who died: the new head is
asked among the members of 15 or over, a missing choice is shown in the summary and inline,
and the form passes axe-core and works with the keyboard alone, in ja and en."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tests.lifeevent.bereaved import DIED, Bereaved
from tests.procedure.conftest import World
from tsunagu.core.db import transaction
from tsunagu.identity import sessions

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_new_head_is_asked_and_chosen_with_the_keyboard(
    page: Page, live_server: str, world: World, bereaved: Bereaved, lang: str
) -> None:
    with transaction(world.factory) as session:
        started = sessions.start(session, method="test", ial=3, aal=2, person_id=bereaved.son)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )
    form = f"/life-events/death?lang={lang}"
    page.goto(form)
    question = page.locator("#f-new_head")
    expect(question.locator("legend")).to_have_text(
        "新しい世帯主" if lang == "ja" else "New head of household"
    )
    expect(question.get_by_role("radio")).to_have_count(2)  # the wife and the son, not the boy
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, form)

    # the head died; everything typed but the new head
    page.goto(form)
    page.locator(f"#m-{bereaved.head}").check()
    page.locator("#q-informant-同居の親族").check()
    page.locator("#f-death_date").fill(DIED.isoformat())
    page.locator("#f-death_place").fill("東京都千代田区")
    page.locator("#f-certificate-doctor").fill("佐藤 医師")
    page.locator("#f-certificate-institution").fill("千代田病院")
    page.locator("#f-certificate-institution").press("Enter")
    summary = page.locator("#error-summary")
    expect(summary.locator('a[href="#f-new_head"]')).to_be_visible()
    expect(page.locator("#f-new_head-error")).to_be_visible()
    expect(page.locator("#f-death_place")).to_have_value("東京都千代田区")  # nothing lost
    assert_no_axe_violations(page)
    summary.get_by_role("link").first.focus()
    page.keyboard.press("Enter")
    page.locator(f"#h-{bereaved.son}").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/life-events/filings/[0-9a-f-]{{36}}/sign\?lang={lang}$"))
    main = page.locator("main")
    expect(main).to_contain_text("山田 正")  # the one part: his 死亡届, naming the new head
    head = re.compile(r"^\s*(新しい世帯主|New head of household)\s*$")
    expect(main.locator("dt", has_text=head)).to_have_count(1)
    expect(main.locator("dd", has_text="山田 健一").first).to_be_visible()
    assert_no_axe_violations(page)
