"""The birth bundle's pages in headless Chromium: the form and the tracker with its check-up
and vaccination schedule pass axe-core and work with the keyboard alone, in ja and en."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tests.lifeevent.parents import Parents, parents_fixture  # noqa: F401
from tests.lifeevent.test_birth_bundle import CHOICES, NURSERY, VALUES, _file
from tests.procedure.conftest import World
from tsunagu.core.db import transaction
from tsunagu.identity import sessions
from tsunagu.lifeevent import onestop

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_birth_pages_in_both_languages(
    page: Page, live_server: str, world: World, parents: Parents, lang: str
) -> None:
    filing_id, _signed = _file(world, parents, "fetch")
    with transaction(world.factory) as session:
        started = sessions.start(session, method="test", ial=3, aal=2, person_id=parents.mother)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )
    form = f"/life-events/birth?lang={lang}"
    page.goto(form)
    expect(page.locator("#q-apply_nursery-fetch")).to_be_visible()
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, form)
    tracker = f"/life-events/filings/{filing_id}?lang={lang}"
    page.goto(tracker)
    heading = "健診と予防接種" if lang == "ja" else "Check-ups and vaccinations"
    expect(page.locator("#schedule-title")).to_have_text(heading)
    expect(page.locator("main")).to_contain_text("BCG")
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, tracker)
    with transaction(world.factory) as session:  # prepared, not yet signed: what it consents to
        prepared = onestop.prepare(
            session, world.person(parents.mother), "birth",
            choices={**CHOICES, "apply_nursery": "fetch"}, values={**VALUES, **NURSERY},
        ).id  # fmt: skip
    sign = f"/life-events/filings/{prepared}/sign?lang={lang}"
    page.goto(sign)
    expect(page.locator("main")).to_contain_text("就労証明書" if lang == "ja" else "Employment")
    assert_no_axe_violations(page)
