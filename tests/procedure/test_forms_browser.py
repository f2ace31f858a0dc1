"""A full 転入届 in headless Chromium: log in with the browser's card, the prefilled form,
an error and its fix, a saved draft, the review, the wallet's signature — no attachment
asked for — then the official decision, a notice valid against the platform root, and
the new address in the register. Every page passes axe-core; the form works by keyboard."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from playwright.sync_api import Page, expect
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tsunagu.core.clock import tokyo_today
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.identity import card, sessions
from tsunagu.identity import service as parties
from tsunagu.identity.schemas import OfficialIn, OfficialRole
from tsunagu.procedure import decisions, service
from tsunagu.procedure.models import Application
from tsunagu.registry import service as registry
from tsunagu.trust import service as trust
from tsunagu.trust.pki import AuthorityRole

from .conftest import World, juki, tennyu_form

pytestmark = pytest.mark.browser
PIN = "246813"


def _enrollment_code(world: World) -> str:
    """Hanako's card, issued at the counter of 千代田区 (her municipality of residence)."""
    with transaction(world.factory) as session:
        counter = parties.create_official(
            session,
            OfficialIn(
                organization_id=world.chiyoda,
                display_name="窓口",
                login_name="chiyoda-counter",
                roles=[OfficialRole.COUNTER_STAFF],
            ),
            actor="test",
        ).id
    with transaction(world.factory) as session:
        actor = world.official(counter)
        return card.issue_at_counter(
            session, actor, person_id=world.hanako, document="passport"
        ).code


def _late_mover(world: World) -> str:
    """Hanako moved out a month ago and in 20 days ago: too late for the rules, a person decides."""
    today = tokyo_today()
    gone = juki("h-hanako", status="転出")
    gone["moved_out"] = {"date": (today - timedelta(days=30)).isoformat(), "reason": "転出"}
    with transaction(world.factory) as session:
        registry.assert_fact(
            session, "juki", world.hanako, gone, keeper_id=world.chiyoda, actor="test",
            valid_from=today - timedelta(days=30),
        )  # fmt: skip
    return (today - timedelta(days=20)).isoformat()


def _check(page: Page) -> None:
    assert_no_axe_violations(page)


def test_full_tennyu_in_the_browser(
    page: Page, live_server: str, settings: Settings, world: World
) -> None:
    settings.base_url = live_server  # login challenges are bound to this origin
    moved_in_on = _late_mover(world)

    # the card in this browser, then log in with it and come back to the procedure
    page.goto("/wallet/enroll")
    page.get_by_label("窓口で受け取ったコード", exact=True).fill(_enrollment_code(world))
    page.locator("#enroll-pin").fill(PIN)
    page.locator("#enroll-pin2").fill(PIN)
    page.locator("#enroll-pin2").press("Enter")
    expect(page.locator("#wallet-status")).to_contain_text("証明書の準備ができました")

    page.goto("/procedures")
    _check(page)
    page.get_by_role("link", name="転入届").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("転入届")
    expect(page.get_by_text("転出証明書: 添付は不要")).to_be_visible()
    _check(page)
    page.get_by_role("link", name="ログインしてオンラインで申請する").click()
    page.get_by_label("このブラウザの証明書の暗証番号", exact=True).fill(PIN)
    page.get_by_role("button", name="このブラウザの証明書でログイン").click()
    page.wait_for_url("**/procedures/tennyu")
    page.get_by_role("button", name="オンラインで申請する").click()
    page.wait_for_url(re.compile(r".*/applications/[0-9a-f-]{36}/form$"))
    form_url = page.url.removeprefix(live_server)
    app_id = form_url.split("/")[2]

    # what the resident register holds is shown, not asked
    known = page.get_by_role("region", name="すでに分かっていること（改めてお聞きしません）")
    expect(known).to_contain_text("山田 花子")
    expect(known).to_contain_text("永田町")
    _check(page)
    assert_keyboard_accessible(page, form_url)

    # keyboard only: type the answers, forget the town, submit with Enter
    page.goto(form_url)
    page.locator("#f-moved_in_on").fill(moved_in_on)
    page.locator("#f-new_address-postal_code").focus()
    page.keyboard.type("5300001")
    page.keyboard.press("Tab")
    page.keyboard.type("271004")
    page.keyboard.press("Tab")  # the town is left empty
    page.keyboard.press("Tab")
    page.keyboard.type("1丁目1番1号")
    page.locator("#f-household-head_name").focus()
    page.keyboard.type("山田 花子")
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # 世帯主
    page.locator("#f-new_address-block").press("Enter")
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("「町名」を入力してください。")
    expect(page.locator("#f-new_address-town-error")).to_contain_text(
        "「町名」を入力してください。"
    )
    expect(page.locator("#f-new_address-block")).to_have_value("1丁目1番1号")  # nothing lost
    expect(page.locator("#f-household-relationship")).to_have_value("世帯主")
    _check(page)
    summary.get_by_role("link").first.focus()
    page.keyboard.press("Enter")  # the summary's link leads to the field
    page.locator("#f-new_address-town").focus()
    page.keyboard.type("梅田")

    # save the draft, then go on to the review
    page.get_by_role("button", name="下書きを保存").click()
    expect(page.get_by_role("status")).to_contain_text("下書きを保存しました")
    expect(page.locator("#f-new_address-town")).to_have_value("梅田")
    _check(page)
    page.get_by_role("button", name="次へ（内容の確認）").click()
    page.wait_for_url(f"**/applications/{app_id}/review")
    expect(page.get_by_role("heading", level=1)).to_contain_text("申請内容の確認")
    expect(page.locator("main")).to_contain_text("梅田")
    _check(page)

    # sign with the browser's card: the application is submitted, no attachment asked for
    page.get_by_role("link", name="署名して提出").click()
    page.wait_for_url(f"**/applications/{app_id}/sign")
    _check(page)
    page.get_by_label("このブラウザの証明書の暗証番号", exact=True).fill(PIN)
    page.get_by_role("button", name="署名して提出").click()
    page.wait_for_url(f"**/applications/{app_id}")
    expect(page.locator("#app-status")).to_have_text("提出済み")
    expect(page.locator("#attachments-requested")).to_have_text("なし")
    expect(page.get_by_text("住民票の写し: 取得済み（添付不要）")).to_be_visible()
    _check(page)
    with transaction(world.factory) as session:
        app = session.get(Application, app_id)
        assert app is not None and app.status == "submitted" and app.signature

    # the official side decides (the console is another page); the worker issues the notice
    reviewer = world.official(world.osaka_reviewer)
    with transaction(world.factory) as session:
        service.assign(session, reviewer, app_id)
        service.decide(session, reviewer, app_id, True, "届出期間経過の理由を確認しました。")
    world.drain()
    page.reload()
    expect(page.locator("#app-status")).to_have_text("承認")
    _check(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="決定通知書をダウンロード（PDF、電子公印付き）").click()
    pdf = Path(download.value.path()).read_bytes()
    with transaction(world.factory) as session:
        root = trust.trust_store(session).ders[AuthorityRole.ROOT]
    [signature] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(root)])
    status = decisions.run_sync(async_validate_pdf_signature(signature, context))
    assert status.bottom_line and status.intact and status.trusted

    # the register shows the new address
    with transaction(world.factory) as session:
        [current] = registry.as_of(session, "juki", world.hanako)
    assert current.keeper_id == world.osaka
    assert current.data["address"]["municipality"] == "大阪市"
    assert current.data["address"]["town"] == "梅田" and current.data["status"] == "住民"

    page.goto("/applications")
    expect(page.get_by_role("link", name="転入届")).to_be_visible()
    _check(page)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_public_procedure_pages_pass_axe_and_the_keyboard(page: Page, lang: str) -> None:
    for path in (f"/procedures?lang={lang}", f"/procedures/risai_shomei?lang={lang}"):
        page.goto(path)
        assert_no_axe_violations(page)
        assert_keyboard_accessible(page, path)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_upload_form_passes_axe_and_the_keyboard(
    page: Page, live_server: str, world: World, lang: str, tmp_path: Path
) -> None:
    with transaction(world.factory) as session:
        started = sessions.start(session, method="test", ial=3, aal=2, person_id=world.taro)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )
    page.goto(f"/procedures/risai_shomei?lang={lang}")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(rf".*/applications/[0-9a-f-]{{36}}/form\?lang={lang}$"))
    form_url = page.url.removeprefix(live_server)
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, form_url)
    photo = tmp_path / "damage.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    page.goto(form_url)
    page.locator("#f-damage_photo").set_input_files(str(photo))
    page.locator("button[value=save]").click()
    expect(page.locator("#f-damage_photo-current")).to_contain_text("damage.png")
    assert_no_axe_violations(page)


def test_every_resident_page_passes_axe_in_english(
    page: Page, live_server: str, world: World
) -> None:
    with transaction(world.factory) as session:
        started = sessions.start(session, method="test", ial=3, aal=2, person_id=world.hanako)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )
    page.goto("/lang/en?next=/procedures/tennyu")  # the language switch keeps English
    assert_no_axe_violations(page)  # logged in: whom the application is for, and apply
    assert_keyboard_accessible(page, "/procedures/tennyu")
    page.goto("/procedures/tennyu")
    page.get_by_role("button", name="Apply online").click()
    page.wait_for_url(re.compile(r".*/applications/[0-9a-f-]{36}/form$"))
    app_id = page.url.split("/")[-2]
    page.get_by_role("button", name="Next: review").click()  # everything missing
    expect(page.locator("#error-summary")).to_contain_text("Town: enter a value.")
    assert_no_axe_violations(page)
    with transaction(world.factory) as session:
        service.update(session, world.person(world.hanako), app_id, tennyu_form())
    for path in ("review", "sign"):
        page.goto(f"/applications/{app_id}/{path}?lang=en")
        assert_no_axe_violations(page)
        assert_keyboard_accessible(page, f"/applications/{app_id}/{path}?lang=en")
    with transaction(world.factory) as session:
        app = session.get(Application, app_id)
        assert app is not None
        signature = world.sign(world.hanako, service.document(app))
        service.submit(session, world.person(world.hanako), app_id, signature, store=world.store)
    world.drain()
    for path in (f"/applications/{app_id}?lang=en", "/applications?lang=en"):
        page.goto(path)
        assert_no_axe_violations(page)
        assert_keyboard_accessible(page, path)
    expect(page.get_by_role("link", name="Notification of moving in")).to_be_visible()
