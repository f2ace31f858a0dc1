"""The resident's pages of procedures: catalog, apply, the prefilled form with errors in ja/en,
review, signing, status, withdrawal — and who may call each of them."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.identity import delegation
from tsunagu.procedure import service
from tsunagu.procedure.models import Application
from tsunagu.registry import service as registry
from tsunagu.trust import protocol

from .conftest import Login, World, juki


def _apply(browser: TestClient, procedure_id: str) -> str:
    response = browser.post(f"/procedures/{procedure_id}/apply", follow_redirects=False)
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/applications/([0-9a-f-]{36})/form", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def _stored(world: World, application_id: str) -> Application:
    with transaction(world.factory) as session:
        app = session.get(Application, application_id)
        assert app is not None
        session.expunge(app)
        return app


def _tennyu_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "f.moved_in_on": (tokyo_today() - timedelta(days=1)).isoformat(),
        "f.new_address.postal_code": "5300001",
        "f.new_address.municipality_code": "271004",
        "f.new_address.town": "梅田",
        "f.new_address.block": "1丁目1番1号",
        "f.household.head_name": "山田 花子",
        "f.household.relationship": "世帯主",
    }
    fields.update(overrides)
    return fields


def _sign(world: World, browser: TestClient, app_id: str, fields: dict[str, str]) -> None:
    """Save the form, sign the application document as the wallet would, submit."""
    browser.post(f"/applications/{app_id}/form", data={**fields, "action": "save"})
    content = protocol.canonical_json(service.document(_stored(world, app_id)))
    signature = protocol.b64(world.signers[world.hanako](content))
    response = browser.post(f"/applications/{app_id}/sign", data={"cms": signature})
    assert response.status_code == 200, response.text


def test_catalog_and_procedure_pages_are_public_in_both_languages(client: TestClient) -> None:
    ja = client.get("/procedures?lang=ja")
    assert ja.status_code == 200 and "転入届" in ja.text and "罹災証明書の交付申請" in ja.text
    assert 'href="/procedures/tennyu"' in ja.text
    en = client.get("/procedures?lang=en").text
    assert "Notification of moving in" in en and "Certificates" in en
    detail = client.get("/procedures/tennyu?lang=ja").text
    assert "住民基本台帳法 第22条" in detail and "転出証明書" in detail and "添付は不要" in detail
    assert 'href="/login?next=/procedures/tennyu"' in detail  # logged out: log in to apply
    assert client.get("/procedures/tennyu?lang=en").text.count("no attachment needed") == 1
    assert client.get("/procedures/nothing").status_code == 404
    # the inventory keeps its address next to the catalog
    assert client.get("/procedures/inventory").status_code == 200


def test_apply_needs_a_logged_in_person_and_csrf(
    world: World, client: TestClient, login: Login
) -> None:
    anonymous = client.post("/procedures/tennyu/apply", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    hanako = login(person=world.hanako)
    del hanako.headers["x-csrf-token"]
    assert hanako.post("/procedures/tennyu/apply").status_code == 403
    official = login(official=world.osaka_reviewer)
    assert official.post("/procedures/tennyu/apply").status_code == 403
    # a procedure needing the digital card refuses a lower-level session
    weak = login(person=world.taro, ial=2)
    assert weak.post("/procedures/tennyu/apply").status_code == 403
    with transaction(world.factory) as session:
        assert session.query(Application).count() == 0


def test_form_shows_what_the_registers_hold_and_asks_only_the_rest(
    world: World, login: Login
) -> None:
    taro = login(person=world.taro)
    app_id = _apply(taro, "risai_shomei")
    # the municipality of the dwelling comes from taro's own resident record, not asked
    assert json.loads(_stored(world, app_id).form_data) == {
        "dwelling": {"municipality_code": "131016"}
    }
    page = taro.get(f"/applications/{app_id}/form?lang=ja")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert "すでに分かっていること" in text and "山田 花子" in text
    assert "1000014 東京都 千代田区 永田町 一丁目7番1号" in text  # in order, without codes
    assert 'name="f.dwelling.municipality_code"' not in text  # shown, never asked
    assert 'name="f.dwelling.address"' in text and 'name="f.damage"' in text
    # a posted value for the register's field is ignored: the register's value is kept
    fields = {
        "action": "save",
        "f.dwelling.municipality_code": "271004",
        "f.disaster.name": "令和8年台風第10号",
    }
    assert taro.post(f"/applications/{app_id}/form", data=fields).status_code == 200
    stored = json.loads(_stored(world, app_id).form_data)
    assert stored["dwelling"]["municipality_code"] == "131016"
    assert stored["disaster"] == {"name": "令和8年台風第10号"}


def test_prefill_reads_only_the_subjects_own_record(world: World, login: Login) -> None:
    with transaction(world.factory) as session:
        registry.assert_fact(
            session, "juki", world.stranger,
            juki("h-sato", address={"municipality_code": "271004", "prefecture": "大阪府",
                                     "municipality": "大阪市", "town": "梅田"}),
            keeper_id=world.osaka, actor="test", valid_from=tokyo_today() - timedelta(days=1),
        )  # fmt: skip
    taro_app = _apply(login(person=world.taro), "risai_shomei")
    stranger = login(person=world.stranger)
    stranger_app = _apply(stranger, "risai_shomei")
    assert json.loads(_stored(world, taro_app).form_data)["dwelling"]["municipality_code"] == (
        "131016"
    )
    assert json.loads(_stored(world, stranger_app).form_data)["dwelling"]["municipality_code"] == (
        "271004"
    )
    assert "梅田" in stranger.get(f"/applications/{stranger_app}/form").text
    assert "永田町" not in stranger.get(f"/applications/{stranger_app}/form").text


def test_errors_are_summarised_and_inline_in_both_languages_and_nothing_typed_is_lost(
    world: World, login: Login
) -> None:
    hanako = login(person=world.hanako)
    app_id = _apply(hanako, "tennyu")
    posted = _tennyu_fields(**{"f.new_address.postal_code": "530-0001", "f.new_address.town": ""})
    response = hanako.post(
        f"/applications/{app_id}/form?lang=ja", data={**posted, "action": "next"}
    )
    assert response.status_code == 422
    text = response.text
    summary = text.split('id="error-summary"')[1].split("</div>")[0]
    assert (
        'href="#f-new_address-postal_code"' in summary and 'href="#f-new_address-town"' in summary
    )
    assert "「町名」を入力してください。" in summary
    assert 'id="f-new_address-town-error"' in text and 'aria-invalid="true"' in text
    assert 'value="530-0001"' in text and 'value="梅田"' not in text  # as typed
    assert 'value="1丁目1番1号"' in text and 'value="山田 花子"' in text
    assert "<title>エラー: 転入届" in text
    en = hanako.post(f"/applications/{app_id}/form?lang=en", data={**posted, "action": "next"})
    assert "Town: enter a value." in en.text and "Postal code: is not a 7-digit" in en.text
    # nothing was stored by a failed "next"
    assert json.loads(_stored(world, app_id).form_data) == {}
    # unreadable numbers are reported even when only saving
    kofu = _apply(hanako, "juminhyo_kofu")
    bad = hanako.post(f"/applications/{kofu}/form", data={"action": "save", "f.copies": "two"})
    assert bad.status_code == 422 and 'value="two"' in bad.text


def test_saving_a_draft_stores_typed_values(world: World, login: Login) -> None:
    taro = login(person=world.taro)
    app_id = _apply(taro, "juminhyo_kofu")
    saved = taro.post(
        f"/applications/{app_id}/form",
        data={"action": "save", "f.copies": "2", "f.include_household": "true"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("/form?saved=1")
    assert json.loads(_stored(world, app_id).form_data) == {
        "copies": 2,
        "include_household": True,
    }
    page = taro.get(saved.headers["location"] + "&lang=ja").text
    assert "下書きを保存しました" in page and 'value="2"' in page


def test_full_tennyu_through_the_pages(world: World, login: Login) -> None:
    hanako = login(person=world.hanako)
    app_id = _apply(hanako, "tennyu")
    assert (
        hanako.get(f"/applications/{app_id}/review", follow_redirects=False).headers["location"]
        == f"/applications/{app_id}/form"
    )  # incomplete: back to the form
    done = hanako.post(
        f"/applications/{app_id}/form", data={**_tennyu_fields(), "action": "next"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == f"/applications/{app_id}/review"
    review = hanako.get(f"/applications/{app_id}/review?lang=ja").text
    assert "梅田" in review and "転出証明書: 添付は不要" in review
    sign = hanako.get(f"/applications/{app_id}/sign?lang=ja").text
    content = base64.b64decode(re.search(r'data-document="([^"]+)"', sign).group(1))  # type: ignore[union-attr]
    app = _stored(world, app_id)
    assert content == protocol.canonical_json(service.document(app))
    # someone else's signature is refused on the page, and nothing is submitted
    forged = protocol.b64(world.signers[world.taro](content))
    refused = hanako.post(f"/applications/{app_id}/sign?lang=en", data={"cms": forged})
    assert refused.status_code == 422 and "not signed by the applicant" in refused.text
    assert _stored(world, app_id).status == "draft"
    signature = protocol.b64(world.signers[world.hanako](content))
    signed = hanako.post(
        f"/applications/{app_id}/sign", data={"cms": signature}, follow_redirects=False
    )
    assert signed.status_code == 303 and signed.headers["location"] == f"/applications/{app_id}"
    status = hanako.get(f"/applications/{app_id}?lang=ja").text
    assert "承認" in status and "自動で決定" in status
    assert "決定通知書を作成しています" in status  # the worker issues it after the commit
    world.drain()
    status = hanako.get(f"/applications/{app_id}?lang=ja").text
    assert f'href="/api/applications/{app_id}/decision.pdf"' in status
    assert "住民票の写し: 取得済み（添付不要）" in status
    assert 'id="attachments-requested">なし' in status
    assert "取り下げる" not in status  # decided: nothing to withdraw
    pdf = hanako.get(f"/api/applications/{app_id}/decision.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    mine = hanako.get("/applications?lang=ja").text
    assert f'href="/applications/{app_id}"' in mine and "承認" in mine
    # the form of a submitted application cannot be changed any more
    assert hanako.get(f"/applications/{app_id}/form").status_code == 409


def test_a_signature_file_from_the_python_wallet_is_accepted(world: World, login: Login) -> None:
    hanako = login(person=world.hanako)
    app_id = _apply(hanako, "tennyu")
    hanako.post(f"/applications/{app_id}/form", data={**_tennyu_fields(), "action": "save"})
    content = protocol.canonical_json(service.document(_stored(world, app_id)))
    signature = world.signers[world.hanako](content)
    missing = hanako.post(f"/applications/{app_id}/sign?lang=ja", data={"cms": ""})
    assert missing.status_code == 422 and "電子署名がありません" in missing.text
    uploaded = hanako.post(
        f"/applications/{app_id}/sign",
        files={"cms_file": ("application.json.p7s", signature, "application/pkcs7-signature")},
        follow_redirects=False,
    )
    assert uploaded.status_code == 303
    assert _stored(world, app_id).status == "approved"


@pytest.mark.parametrize(
    "path", ["/form", "/review", "/sign", ""], ids=["form", "review", "sign", "status"]
)
def test_who_may_open_an_application(
    world: World, client: TestClient, login: Login, path: str
) -> None:
    hanako = login(person=world.hanako)
    app_id = _apply(hanako, "tennyu")
    hanako.post(f"/applications/{app_id}/form", data={**_tennyu_fields(), "action": "save"})
    url = f"/applications/{app_id}{path}"
    assert hanako.get(url).status_code == 200
    anonymous = client.get(url, follow_redirects=False)
    assert (
        anonymous.status_code == 303
        and anonymous.headers["location"] == f"/login?next={url.replace('/', '%2F')}"
    )
    assert login(person=world.stranger).get(url).status_code == 404
    assert login(official=world.chiyoda_reviewer).get(url).status_code == 404  # not the owner


def test_who_may_change_or_sign_an_application(
    world: World, client: TestClient, login: Login
) -> None:
    hanako = login(person=world.hanako)
    app_id = _apply(hanako, "tennyu")
    content = protocol.canonical_json(service.document(_stored(world, app_id)))
    signature = protocol.b64(world.signers[world.hanako](content))
    posts = {"form": {**_tennyu_fields(), "action": "save"}, "sign": {"cms": signature}}
    for path, data in posts.items():
        url = f"/applications/{app_id}/{path}"
        assert client.post(url, data=data, follow_redirects=False).status_code == 303  # login
        for other in (login(person=world.stranger), login(official=world.osaka_reviewer)):
            assert other.post(url, data=data).status_code == 404
        no_csrf = login(person=world.hanako)
        del no_csrf.headers["x-csrf-token"]
        assert no_csrf.post(url, data=data).status_code == 403
    assert _stored(world, app_id).status == "draft"
    assert json.loads(_stored(world, app_id).form_data) == {}
    mine = client.get("/applications", follow_redirects=False)
    assert mine.status_code == 303 and mine.headers["location"] == "/login?next=%2Fapplications"
    assert app_id not in login(person=world.stranger).get("/applications").text


def test_reviewer_of_the_owner_sees_the_status_page_only(world: World, login: Login) -> None:
    hanako = login(person=world.hanako)
    app_id = _apply(hanako, "tennyu")
    late = (tokyo_today() - timedelta(days=20)).isoformat()
    _sign(world, hanako, app_id, _tennyu_fields(**{"f.moved_in_on": late}))
    reviewer = login(official=world.osaka_reviewer)
    page = reviewer.get(f"/applications/{app_id}?lang=ja")
    assert page.status_code == 200 and "取り下げる" not in page.text
    assert reviewer.get(f"/applications/{app_id}/form").status_code == 404
    assert reviewer.post(f"/applications/{app_id}/withdraw").status_code == 404
    assert login(official=world.chiyoda_reviewer).get(f"/applications/{app_id}").status_code == 404


def test_withdraw_and_returned_for_correction(
    world: World, client: TestClient, login: Login
) -> None:
    taro = login(person=world.taro)
    app_id = _apply(taro, "juminhyo_kofu")
    assert (
        client.post(f"/applications/{app_id}/withdraw", follow_redirects=False).status_code == 303
    )
    assert login(person=world.stranger).post(f"/applications/{app_id}/withdraw").status_code == 404
    no_csrf = login(person=world.taro)
    del no_csrf.headers["x-csrf-token"]
    assert no_csrf.post(f"/applications/{app_id}/withdraw").status_code == 403
    page = taro.get(f"/applications/{app_id}?lang=ja").text
    assert "取り下げる" in page and "申請を続ける" in page
    done = taro.post(f"/applications/{app_id}/withdraw", follow_redirects=False)
    assert done.headers["location"] == f"/applications/{app_id}?done=withdrawn"
    assert "取り下げました" in taro.get(done.headers["location"] + "&lang=ja").text
    assert _stored(world, app_id).status == "withdrawn"

    # returned for correction: the reasons are shown and the form is open again
    late = (tokyo_today() - timedelta(days=20)).isoformat()
    hanako = login(person=world.hanako)
    app_id = _apply(hanako, "tennyu")
    _sign(world, hanako, app_id, _tennyu_fields(**{"f.moved_in_on": late}))
    assert _stored(world, app_id).status == "submitted"  # late: the rules leave it to a person
    reviewer = world.official(world.osaka_reviewer)
    with transaction(world.factory) as session:
        service.assign(session, reviewer, app_id)
        service.return_for_correction(session, reviewer, app_id, "転入した日を確認してください。")
    status = hanako.get(f"/applications/{app_id}?lang=ja").text
    assert "補正して再提出する" in status and "転入した日を確認してください。" in status
    form = hanako.get(f"/applications/{app_id}/form?lang=ja").text
    assert "補正" in form and "転入した日を確認してください。" in form and f'value="{late}"' in form


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)


def _risai_fields() -> dict[str, str]:
    return {
        "f.disaster.name": "令和8年台風第10号",
        "f.disaster.occurred_on": (tokyo_today() - timedelta(days=5)).isoformat(),
        "f.dwelling.address": "東京都千代田区永田町一丁目7番1号",
        "f.relation": "所有者兼居住者",
        "f.damage": "屋根瓦が飛散し、天井から雨漏りしている。",
    }


def test_an_upload_only_where_no_register_holds_the_facts(
    world: World, client: TestClient, login: Login
) -> None:
    taro = login(person=world.taro)
    app_id = _apply(taro, "risai_shomei")
    form = taro.get(f"/applications/{app_id}/form?lang=ja").text
    assert 'enctype="multipart/form-data"' in form and 'name="file.damage_photo"' in form
    # a text file named .png is refused by its content; everything typed stays
    fake = taro.post(
        f"/applications/{app_id}/form?lang=ja",
        data={**_risai_fields(), "action": "save"},
        files={"file.damage_photo": ("damage.png", b"just text", "image/png")},
    )
    assert fake.status_code == 422
    assert "添付できるのは PDF、PNG、JPEG のファイルだけです。" in fake.text
    assert 'href="#f-damage_photo"' in fake.text and "屋根瓦が飛散し" in fake.text
    # too large for the configured limit
    world.settings.upload_max_bytes = 50
    big = taro.post(
        f"/applications/{app_id}/form?lang=en",
        data={**_risai_fields(), "action": "save"},
        files={"file.damage_photo": ("damage.png", PNG, "image/png")},
    )
    assert big.status_code == 422 and "Photo of the damage: The file must be at most" in big.text
    world.settings.upload_max_bytes = 5 * 1024 * 1024
    saved = taro.post(
        f"/applications/{app_id}/form",
        data={**_risai_fields(), "action": "next"},
        files={"file.damage_photo": ("../../被害 写真.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    upload_id = json.loads(_stored(world, app_id).form_data)["damage_photo"]
    # stored outside the web root under a random name, never the file's own name
    [stored] = list((world.settings.var_dir / "uploads").iterdir())
    assert stored.read_bytes() == PNG and "写真" not in stored.name and len(stored.name) == 32
    review = taro.get(f"/applications/{app_id}/review").text
    assert f'href="/applications/{app_id}/uploads/{upload_id}">被害 写真.png</a>' in review
    # the file stays when the form is saved again without a new one
    again = taro.post(
        f"/applications/{app_id}/form", data={**_risai_fields(), "f.damage_photo": upload_id,
                                              "action": "save"},
    )  # fmt: skip
    assert again.status_code == 200
    assert json.loads(_stored(world, app_id).form_data)["damage_photo"] == upload_id

    url = f"/applications/{app_id}/uploads/{upload_id}"
    got = taro.get(url)
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == f'attachment; filename="upload-{upload_id}.png"'
    assert client.get(url, follow_redirects=False).status_code == 303
    assert login(person=world.stranger).get(url).status_code == 404
    assert login(official=world.chiyoda_reviewer).get(url).status_code == 404  # not yet filed
    # once filed, the owning organization's reviewers see it, others do not
    content = protocol.canonical_json(service.document(_stored(world, app_id)))
    signature = protocol.b64(world.signers[world.taro](content))
    filed = taro.post(f"/applications/{app_id}/sign", data={"cms": signature})
    assert filed.status_code == 200 and _stored(world, app_id).status == "submitted"
    assert login(official=world.chiyoda_reviewer).get(url).content == PNG
    assert login(official=world.osaka_reviewer).get(url).status_code == 404
    # another application's upload id cannot be borrowed
    other = _apply(taro, "risai_shomei")
    assert taro.get(f"/applications/{other}/uploads/{upload_id}").status_code == 404
    borrowed = taro.post(
        f"/applications/{other}/form", data={"f.damage_photo": upload_id, "action": "save"}
    )
    assert borrowed.status_code == 200
    assert "damage_photo" not in json.loads(_stored(world, other).form_data)


def test_filing_for_someone_else_needs_a_valid_power_of_attorney_or_the_household(
    world: World, login: Login
) -> None:
    valid = world.power_of_attorney(world.stranger, world.taro, ["juminhyo_kofu"])
    world.power_of_attorney(world.hanako, world.taro, ["juminhyo_kofu"], days=-1)  # expired
    revoked = world.power_of_attorney(world.hanako, world.taro, ["kazei_shomei_kofu"])
    with transaction(world.factory) as session:
        delegation.revoke(session, world.person(world.hanako), revoked)
    taro = login(person=world.taro)
    page = taro.get("/procedures/juminhyo_kofu?lang=ja").text
    assert page.count("（委任状による代理）") == 1 and f'value="{world.stranger}"' in page
    assert f'value="{world.hanako}"' not in page
    filed = taro.post(
        "/procedures/juminhyo_kofu/apply", data={"subject": world.stranger}, follow_redirects=False
    )
    assert filed.status_code == 303
    app = _stored(world, filed.headers["location"].split("/")[2])
    assert (app.subject_id, app.role, app.delegation_id) == (world.stranger, "proxy", valid)
    for procedure_id in ("juminhyo_kofu", "kazei_shomei_kofu"):  # expired, revoked
        refused = taro.post(
            f"/procedures/{procedure_id}/apply?lang=ja",
            data={"subject": "other", "subject_id": world.hanako},
        )
        assert refused.status_code == 403 and "有効な委任状がありません" in refused.text
    # 死亡届 is filed by a member of the household only
    shibou = taro.post(
        "/procedures/shibou/apply", data={"subject": "other", "subject_id": world.jiro},
        follow_redirects=False,
    )  # fmt: skip
    assert shibou.status_code == 303
    assert _stored(world, shibou.headers["location"].split("/")[2]).role == "household"
    outsider = login(person=world.stranger).post(
        "/procedures/shibou/apply", data={"subject": "other", "subject_id": world.jiro}
    )
    assert outsider.status_code == 403
    with transaction(world.factory) as session:
        assert session.query(Application).count() == 2


def test_a_fee_is_settled_before_the_signature(world: World, login: Login) -> None:
    taro = login(person=world.taro)
    app_id = _apply(taro, "juminhyo_kofu")
    fields = {"f.copies": "1", "f.purpose": "就職", "action": "next"}
    assert taro.post(f"/applications/{app_id}/form", data=fields).status_code == 200
    fee = _stored(world, app_id).fee
    review = taro.get(f"/applications/{app_id}/review?lang=ja").text
    assert "提出の前に手数料のお支払いが必要です" in review and f"{fee}円" in review
    assert f'href="/applications/{app_id}/payment?lang=ja"' in review  # in the page's language
    assert f'href="/applications/{app_id}/sign' not in review
    # signing anyway is refused on the page with the reason
    content = protocol.canonical_json(service.document(_stored(world, app_id)))
    signature = protocol.b64(world.signers[world.taro](content))
    refused = taro.post(f"/applications/{app_id}/sign?lang=en", data={"cms": signature})
    assert refused.status_code == 422 and _stored(world, app_id).status == "draft"
    status = taro.get(f"/applications/{app_id}?lang=ja").text
    assert "未払い" in status or "支払" in status
