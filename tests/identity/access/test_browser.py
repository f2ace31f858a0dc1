"""The browser wallet in headless Chromium: enroll with a counter code, log in, sign,
give a power of attorney — with the keyboard — and every page of the digital card
passes axe-core with zero violations.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.identity import business, card, sessions
from tsunagu.identity import service as parties
from tsunagu.identity.access_models import Delegation
from tsunagu.identity.schemas import OrganizationIn, OrganizationKind
from tsunagu.trust import service as trust

from .conftest import PIN, World

pytestmark = pytest.mark.browser


def _code(world: World, person_id: str) -> str:
    with transaction(world.factory) as session:
        return card.issue_at_counter(
            session, world.official_actor(world.counter), person_id=person_id, document="passport"
        ).code


def _check(page: Page, path: str) -> None:
    page.goto(path)
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, path)


def _login_cookie(page: Page, live_server: str, world: World, **principal: str) -> None:
    with transaction(world.factory) as session:
        started = sessions.start(session, method="test", ial=2, aal=2, **principal)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )


def test_browser_wallet_enrolls_logs_in_signs_and_gives_a_power_of_attorney(
    page: Page, live_server: str, settings: Settings, world: World, tmp_path: Path
) -> None:
    settings.base_url = live_server  # login challenges are bound to this origin
    _check(page, "/wallet/enroll")
    # enrollment, keyboard only: the code and the PIN twice, then Enter
    page.goto("/wallet/enroll")
    page.get_by_label("窓口で受け取ったコード", exact=True).focus()
    page.keyboard.type(_code(world, world.alice))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "enroll-pin"
    page.keyboard.type(PIN)
    page.keyboard.press("Tab")
    page.keyboard.type(PIN)
    page.keyboard.press("Enter")
    expect(page.locator("#wallet-status")).to_contain_text("証明書の準備ができました")
    assert_no_axe_violations(page)
    with transaction(world.factory) as session:
        issued = {c.kind for c in trust.certificates_of(session, world.alice)}
    assert issued == {"signing", "authentication"}
    key_facts = page.evaluate(
        """async () => {
          const db = await new Promise((ok) => {
            const r = indexedDB.open("tsunagu-wallet"); r.onsuccess = () => ok(r.result); });
          const card = await new Promise((ok) => {
            const r = db.transaction("card").objectStore("card").get("card");
            r.onsuccess = () => ok(r.result); });
          let exported = true;
          try { await crypto.subtle.exportKey("pkcs8", card.keys.signing); }
          catch (e) { exported = false; }
          return {extractable: card.keys.signing.extractable
                    || card.keys.authentication.extractable, exported,
                  type: card.keys.signing.type, curve: card.keys.signing.algorithm.namedCurve};
        }"""
    )
    assert key_facts == {
        "extractable": False,
        "exported": False,
        "type": "private",
        "curve": "P-256",
    }

    # login: a wrong PIN is refused in the page, the right one logs in
    _check(page, "/login")
    page.goto("/login")
    page.get_by_label("このブラウザの証明書の暗証番号", exact=True).fill("000000")
    page.get_by_role("button", name="このブラウザの証明書でログイン").click()
    expect(page.locator("#wallet-error")).to_contain_text("暗証番号が違います")
    page.get_by_label("このブラウザの証明書の暗証番号", exact=True).focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(PIN)
    page.keyboard.press("Enter")
    page.wait_for_url("**/me")  # "My page", which links to the card
    page.get_by_role("link", name="わたしのデジタル証明書").click()
    page.wait_for_url("**/me/card")
    expect(page.get_by_role("heading", level=1)).to_have_text("わたしのデジタル証明書")
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, "/me/card")

    # sign a file: the browser's key signs, the platform verifies and time-stamps
    _check(page, "/wallet/sign")
    document = tmp_path / "申請書.txt"
    document.write_text("住民票の写しの交付申請", encoding="utf-8")
    page.goto("/wallet/sign")
    page.get_by_label("ファイル", exact=True).set_input_files(str(document))
    page.get_by_label("このブラウザの証明書の暗証番号", exact=True).fill(PIN)
    page.get_by_role("button", name="署名", exact=True).click()
    expect(page.locator("#sign-result")).to_be_visible()
    expect(page.locator("#sign-signer")).to_contain_text("山田")
    with page.expect_download() as download:
        page.get_by_role("link", name="署名をダウンロード（.p7s）").click()
    signature = Path(download.value.path()).read_bytes()
    with transaction(world.factory) as session:
        verified = trust.verify_signature(session, signature, document.read_bytes())
    assert verified.signer.subject_ref == world.alice and verified.timestamp is not None
    assert_no_axe_violations(page)

    # a power of attorney signed in the browser
    _check(page, "/delegations")
    page.goto("/delegations")
    page.get_by_label("代理人の利用者IDまたは法人番号", exact=True).fill(world.bob)
    page.get_by_label("手続", exact=True).fill("care.certification")
    page.get_by_label("開始日", exact=True).fill("2025-04-01")
    page.get_by_label("終了日", exact=True).fill("2027-03-31")
    page.get_by_label("このブラウザの証明書の暗証番号", exact=True).fill(PIN)
    page.get_by_role("button", name="署名して登録").click()
    expect(page.get_by_role("status").filter(has_text="委任状を登録しました")).to_be_visible()
    with transaction(world.factory) as session:
        row = session.execute(select(Delegation)).scalar_one()
    assert row.principal_person_id == world.alice and row.agent_person_id == world.bob
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, "/delegations")

    # report loss from the card page: both certificates end, and so does the session
    page.goto("/me/card")
    page.get_by_label(
        "2 つの電子証明書が失効し、二度と使えなくなることを理解しました。", exact=True
    ).check()
    page.get_by_role("button", name="2 つの電子証明書を失効させる").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("電子証明書を失効させました")
    assert_no_axe_violations(page)
    with transaction(world.factory) as session:
        assert all(c.revoked_at for c in trust.certificates_of(session, world.alice))


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_counter_and_business_pages_pass_axe(
    page: Page, live_server: str, world: World, lang: str
) -> None:
    # the counter, as counter staff of 千代田区, finding and issuing for a resident
    _login_cookie(page, live_server, world, official_id=world.counter)
    _check(page, f"/counter?lang={lang}")
    _check(page, f"/counter?kana=テスト&lang={lang}")
    _check(page, f"/counter/persons/{world.alice}?lang={lang}")
    page.goto(f"/counter/persons/{world.alice}?lang={lang}")
    page.locator("#document").select_option("passport")
    page.locator("#issue-title ~ form button[type=submit]").click()
    expect(page.locator(".enrollment-code")).to_be_visible()
    assert_no_axe_violations(page)
    # the business account of a corporation, as its prime
    with transaction(world.factory) as session:
        parties.create_organization(
            session,
            OrganizationIn(
                kind=OrganizationKind.CORPORATION,
                name_ja="株式会社つなぐ",
                name_kana="カブシキガイシャツナグ",
                corporate_number="1180301018771",
            ),
            actor="test",
        )
        business.open_at_counter(
            session,
            world.official_actor(world.counter),
            corporate_number="1180301018771",
            person_id=world.alice,
        )
    page.context.clear_cookies()
    _login_cookie(page, live_server, world, person_id=world.alice)
    _check(page, f"/business?lang={lang}")
    page.goto(f"/business?lang={lang}")
    page.locator("#member-name").fill("佐藤 一郎")
    page.locator("#member-login").fill("staff1")
    page.locator("#member-password").fill("a long password 1")
    page.locator("#add-title ~ form button[type=submit]").click()
    expect(page.locator("#new-member-title")).to_be_visible()
    assert_no_axe_violations(page)
    page.context.clear_cookies()
    _check(page, f"/login?lang={lang}")
