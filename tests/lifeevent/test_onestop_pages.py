"""One-stop pages and API: who may call what, errors shown with nothing lost, the whole
filing through the API with one signature."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.lifeevent.movers import Movers, values
from tests.procedure.conftest import Login, World
from tsunagu.trust import protocol


def _form(**overrides: str) -> dict[str, str]:
    posted = {f"f.{key}": value for key, value in values().items()}
    posted.update({"q.scope": "other_city"})
    posted.update(overrides)
    return posted


def test_the_catalog_is_public_and_the_rest_needs_a_resident(
    client: TestClient, login: Login, world: World, movers: Movers
) -> None:
    assert client.get("/life-events").status_code == 200
    listed = {b["id"]: b for b in client.get("/api/life-events").json()}
    assert set(listed) == {"moving", "death", "care", "birth"}
    assert "tennyu" in listed["moving"]["procedures"]
    page = client.get("/life-events/moving", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.get("/api/life-events/filings").status_code == 401
    assert client.get("/api/life-events/moving/household").status_code == 401
    official = login(official=world.osaka_reviewer)
    assert official.get("/api/life-events/moving/household").status_code == 403
    assert official.post("/api/life-events/moving/filings", json={"choices": {}}).status_code == 403


def test_the_form_shows_what_the_registers_know_and_keeps_what_was_typed(
    login: Login, world: World, movers: Movers
) -> None:
    head = login(person=movers.head)
    page = head.get("/life-events/moving")
    assert page.status_code == 200
    assert "中村 蓮" in page.text and "品川 300 さ 12-34" in page.text
    bad = head.post(
        "/life-events/moving", data=_form(**{"f.new_address.town": "", "f.move_date": "x"})
    )
    assert bad.status_code == 422
    assert 'id="error-summary"' in bad.text and 'aria-invalid="true"' in bad.text
    assert 'value="1丁目1番1号"' in bad.text  # nothing typed is lost
    good = head.post("/life-events/moving", data=_form(), follow_redirects=False)
    assert good.status_code == 303
    sign = head.get(good.headers["location"])
    assert (
        sign.status_code == 200
        and "転入届" in sign.text
        and 'data-wallet-action="application"' in sign.text
    )


def _file(head: TestClient, world: World, movers: Movers) -> dict[str, Any]:
    body = {"choices": {"scope": "other_city"}, "values": values(), "notify": []}
    created = head.post("/api/life-events/moving/filings", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_a_whole_filing_through_the_api(login: Login, world: World, movers: Movers) -> None:
    head = login(person=movers.head)
    filing = _file(head, world, movers)
    cms = protocol.b64(world.sign(movers.head, filing["document"]))
    tracker = head.post(f"/api/life-events/filings/{filing['id']}/submit", json={"cms": cms})
    assert tracker.status_code == 200, tracker.text
    result = tracker.json()
    assert result["attachments_requested"] == 0 and result["fields_typed"] == 4
    assert len(result["parts"]) == 11 and not result["all_completed"]
    assert [
        p["procedure_id"] for p in result["parts"] if p["application_id"] in result["pending"]
    ] == ["jidou_teate"]
    figures = head.get("/api/life-events/moving/figures").json()
    assert figures["filings_submitted"] == 1 and figures["fields_typed_mean"] == 4
    assert figures["procedures_covered"] == 7 and figures["completed"] == 0
    page = head.get(f"/life-events/filings/{filing['id']}")
    assert page.status_code == 200 and "児童手当" in page.text
    again = head.post(f"/api/life-events/filings/{filing['id']}/submit", json={"cms": cms})
    assert again.status_code == 422


def test_another_resident_sees_nothing_of_a_filing(
    login: Login, world: World, movers: Movers
) -> None:
    filing = _file(login(person=movers.head), world, movers)
    cms = protocol.b64(world.sign(movers.head, filing["document"]))
    for person in (movers.spouse, world.stranger):
        other = login(person=person)
        assert other.get(f"/api/life-events/filings/{filing['id']}").status_code == 404
        assert other.get(f"/life-events/filings/{filing['id']}/sign").status_code == 404
        assert other.get(f"/life-events/filings/{filing['id']}").status_code == 404
        submit = other.post(f"/api/life-events/filings/{filing['id']}/submit", json={"cms": cms})
        assert submit.status_code == 404
        assert other.get("/api/life-events/filings").json() == []


def test_the_language_of_the_link_is_kept_through_the_form_and_the_signature(
    login: Login, world: World, movers: Movers
) -> None:
    """No saved choice: ``?lang=en`` on the form keeps English after each POST and redirect;
    ``?lang=ja`` keeps Japanese."""
    head = login(person=movers.head)
    for language, refused_word, sign_word in (
        ("en", "There is a problem", "Sign and submit everything"),
        ("ja", "入力内容を確認してください", "まとめて署名して提出する"),
    ):
        page = head.get(f"/life-events/moving?lang={language}").text
        action = f'action="/life-events/moving?lang={language}"'
        assert action in page
        bad = head.post(f"/life-events/moving?lang={language}", data=_form(**{"f.move_date": "x"}))
        assert bad.status_code == 422 and bad.headers["content-language"] == language
        assert refused_word in bad.text and action in bad.text
        good = head.post(
            f"/life-events/moving?lang={language}", data=_form(), follow_redirects=False
        )
        assert good.status_code == 303
        assert good.headers["location"].endswith(f"/sign?lang={language}")
        sign = head.get(good.headers["location"])
        assert sign.headers["content-language"] == language and sign_word in sign.text
        assert f'/sign?lang={language}" id="sign-form"' in sign.text
        unsigned = head.post(good.headers["location"], data={"cms": ""})
        assert unsigned.status_code == 422 and unsigned.headers["content-language"] == language
