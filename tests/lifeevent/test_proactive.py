"""Proactive services: rules fire on the right days, once; accepting makes a prefilled draft."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page
from sqlalchemy import select
from typer.testing import CliRunner

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tests.procedure.conftest import Login, World, _person, juki
from tsunagu.cli import app
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.core.errors import NotFoundError, ValidationError
from tsunagu.core.outbox.service import Dispatcher
from tsunagu.identity import sessions
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.lifeevent import cli, proactive
from tsunagu.lifeevent.models import ProactiveNotice
from tsunagu.packs import PackError
from tsunagu.procedure import rules
from tsunagu.procedure import service as procedures
from tsunagu.registry import service as registry

from .conftest import CARE_ENDS, KEN_BORN, MEI_BORN, Family

DAY = date(2026, 6, 10)  # 11 days after 芽衣's birth, 40 days before 健 turns 3


def _notices(world: World) -> list[ProactiveNotice]:
    with transaction(world.factory) as session:
        rows = session.execute(select(ProactiveNotice)).scalars().all()
        session.expunge_all()
        return sorted(rows, key=lambda n: (n.rule_id, n.person_id))


def _scan(world: World, day: date) -> proactive.ScanResult:
    with transaction(world.factory) as session:
        return proactive.scan(session, day)


def test_rules_fire_on_their_days_for_the_right_people(world: World, family: Family) -> None:
    result = _scan(world, DAY)
    found = {(n.rule_id, n.person_id, n.period_key) for n in _notices(world)}
    assert found == {
        ("jidou_teate_after_birth", family.ichiro, family.mei),  # 健 is already claimed for
        ("kenshin_3sai", family.ichiro, family.ken),
        ("jidou_teate_genkyo", family.ichiro, "2026"),  # 翼 lives apart; June
        ("kaigo_koushin", family.tome, CARE_ENDS.isoformat()),
    }
    assert result.offered == 4
    by_rule = {n.rule_id: n for n in _notices(world)}
    birth = by_rule["jidou_teate_after_birth"]
    assert birth.due_on == MEI_BORN + timedelta(days=15) and birth.about == "芽衣"
    assert birth.status == "offered" and birth.procedure_id == "jidou_teate"
    assert json.loads(birth.prefill) == {
        "child": {
            "family_name": "高橋", "given_name": "芽衣", "birth_date": MEI_BORN.isoformat(),
            "relationship": "子", "living_together": True,
        }
    }  # fmt: skip
    assert by_rule["kenshin_3sai"].due_on == date(2026, 7, 20)
    assert by_rule["kenshin_3sai"].procedure_id is None
    assert by_rule["jidou_teate_genkyo"].due_on == date(2026, 6, 30)
    assert json.loads(by_rule["kaigo_koushin"].prefill) == {
        "kind": "更新", "insured_number": "0000012345"
    }  # fmt: skip
    assert by_rule["kaigo_koushin"].due_on == CARE_ENDS


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 5, 19), set()),  # before 芽衣; 健 turns 3 in over 2 months; 73 days of care
        (date(2026, 5, 31), {"jidou_teate_after_birth", "kenshin_3sai"}),  # care: 61 days left
        (
            date(2026, 6, 1),
            {"jidou_teate_after_birth", "kenshin_3sai", "kaigo_koushin"} | {"jidou_teate_genkyo"},
        ),
        (date(2026, 7, 1), {"jidou_teate_after_birth", "kenshin_3sai", "kaigo_koushin"}),
        (date(2026, 8, 1), {"jidou_teate_after_birth"}),  # birthday and certification passed
        (date(2027, 6, 1), {"jidou_teate_genkyo"}),  # 芽衣 over a year; a new year's report
    ],
)
def test_each_rule_holds_only_in_its_window(
    world: World, family: Family, day: date, expected: set[str]
) -> None:
    _scan(world, day)
    assert {n.rule_id for n in _notices(world)} == expected


def test_moving_in_offers_the_claim_again_at_the_new_municipality(
    world: World, family: Family
) -> None:
    """The old municipality's allowance record does not cover a child in the new one."""
    moved = DAY - timedelta(days=5)
    vault = MyNumberVault.from_settings(world.settings)
    with transaction(world.factory) as session:
        head, child, adult = (
            _person(session, vault, "伊藤", given) for given in ("誠", "陽菜", "大輝")
        )
        for person, relationship, born in (
            (head, "世帯主", "1984-02-02"), (child, "子", "2019-08-08"), (adult, "子", "2006-01-01")
        ):  # fmt: skip
            record = juki(
                "h-ito", name={"family": "伊藤", "given": "x"}, birth_date=born,
                moved_in={"date": moved.isoformat(), "reason": "転入"},
            )  # fmt: skip
            record["household"].update(head_name="伊藤 誠", relationship=relationship)
            registry.assert_fact(
                session, "juki", person, record, keeper_id=world.chiyoda, actor="test",
                valid_from=moved,
            )  # fmt: skip
        registry.assert_fact(
            session, "jidou_teate", head,
            {"recipient_number": "2710040001", "certified_on": "2019-09-01",
             "monthly_amount": 10000, "status": "支給中",
             "children": [{"name": "伊藤 陽菜", "person_id": child, "birth_date": "2019-08-08"}]},
            keeper_id=world.osaka, actor="test", valid_from=date(2019, 9, 1),
        )  # fmt: skip
    _scan(world, DAY)
    offered = [n for n in _notices(world) if n.person_id == head]
    assert [(n.rule_id, n.period_key, n.due_on) for n in offered] == [
        ("jidou_teate_after_moving_in", f"{moved.isoformat()}/{child}", moved + timedelta(days=15))
    ]  # the 20-year-old is past the allowance age
    assert _scan(world, DAY + timedelta(days=40)).offered == 0  # a month after the move


def test_scans_are_idempotent_and_dismissed_notices_stay_dismissed(
    world: World, family: Family
) -> None:
    assert _scan(world, DAY).offered == 4
    again = _scan(world, DAY)
    assert (again.offered, again.already) == (0, 4)
    birth = next(n for n in _notices(world) if n.rule_id == "jidou_teate_after_birth")
    with transaction(world.factory) as session:
        proactive.dismiss(session, world.person(family.ichiro), birth.id)
    for later in (DAY + timedelta(days=1), DAY + timedelta(days=20)):
        assert _scan(world, later).offered == 0
    notices = [n for n in _notices(world) if n.rule_id == "jidou_teate_after_birth"]
    assert [n.status for n in notices] == ["dismissed"]
    with transaction(world.factory) as session, pytest.raises(ValidationError):
        proactive.dismiss(session, world.person(family.ichiro), birth.id)
    # The yearly report comes back the next year: a new period.
    assert _scan(world, date(2027, 6, 1)).offered == 1


def test_accept_creates_the_prefilled_draft_for_the_resident(world: World, family: Family) -> None:
    _scan(world, DAY)
    notices = {n.rule_id: n for n in _notices(world)}
    birth, renewal = notices["jidou_teate_after_birth"], notices["kaigo_koushin"]
    with transaction(world.factory) as session:
        first = proactive.accept(session, world.person(family.ichiro), birth.id)
        again = proactive.accept(session, world.person(family.ichiro), birth.id)
        care = proactive.accept(session, world.person(family.tome), renewal.id)
    assert first == again
    with transaction(world.factory) as session:
        app = procedures.get(session, world.person(family.ichiro), first)
        assert (app.procedure_id, app.status, app.subject_id, app.role) == (
            "jidou_teate", "draft", family.ichiro, "self"
        )  # fmt: skip
        assert json.loads(app.form_data)["child"]["given_name"] == "芽衣"
        renewal_app = procedures.get(session, world.person(family.tome), care)
        assert renewal_app.subject_id == family.tome
        assert json.loads(renewal_app.form_data) == {"kind": "更新", "insured_number": "0000012345"}
        actions = (
            session.execute(
                select(AuditRecord.action)
                .where(AuditRecord.object_id == birth.id)
                .order_by(AuditRecord.seq)
            )
            .scalars()
            .all()
        )
    assert actions == ["lifeevent.notice.offered", "lifeevent.notice.accepted"]
    statuses = {n.rule_id: (n.status, n.application_id) for n in _notices(world)}
    assert statuses["jidou_teate_after_birth"] == ("accepted", first)
    assert _scan(world, DAY + timedelta(days=2)).offered == 0


def test_information_only_notices_offer_no_application(world: World, family: Family) -> None:
    _scan(world, DAY)
    checkup = next(n for n in _notices(world) if n.rule_id == "kenshin_3sai")
    with transaction(world.factory) as session, pytest.raises(ValidationError):
        proactive.accept(session, world.person(family.ichiro), checkup.id)


def test_another_resident_can_neither_see_nor_accept_a_notice(world: World, family: Family) -> None:
    _scan(world, DAY)
    birth = next(n for n in _notices(world) if n.rule_id == "jidou_teate_after_birth")
    for outsider in (world.stranger, family.yoko):
        actor = world.person(outsider)
        with transaction(world.factory) as session:
            assert proactive.notices_of(session, actor) == []
            for act in (proactive.get_notice, proactive.accept, proactive.dismiss):
                with pytest.raises(NotFoundError):
                    act(session, actor, birth.id)


def _drain(world: World) -> None:
    dispatcher = Dispatcher(world.factory, backoff_base=0.0, max_attempts=1)
    for _ in range(20):
        stats = dispatcher.run_once()
        assert stats.dead == stats.retried == 0
        if stats.claimed == 0:
            return


def test_a_recorded_birth_is_offered_at_once_through_the_outbox(
    world: World, family: Family
) -> None:
    born = tokyo_today() - timedelta(days=2)
    vault = MyNumberVault.from_settings(world.settings)
    with transaction(world.factory) as session:
        baby = _person(session, vault, "高橋", "蓮")
        record = juki(
            "h-takahashi", name={"family": "高橋", "given": "蓮"}, birth_date=born.isoformat()
        )
        record["household"].update(head_name="高橋 一郎", relationship="子")
        record["moved_in"] = {"date": born.isoformat(), "reason": "出生"}
        registry.assert_fact(
            session, "juki", baby, record, keeper_id=world.chiyoda, actor="test", valid_from=born
        )
    _drain(world)
    offered = [n for n in _notices(world) if n.period_key == baby]
    assert [(n.rule_id, n.person_id, n.found_on) for n in offered] == [
        ("jidou_teate_after_birth", family.ichiro, tokyo_today())
    ]
    _drain(world)
    assert len([n for n in _notices(world) if n.period_key == baby]) == 1


@pytest.mark.parametrize(
    "unsafe",
    [
        {"__import__": "os"},
        {"eval": "1+1"},
        {"var": {"var": "x"}},
        {"eq": [1]},
        {"eq": [1, 2], "ne": [1, 2]},
        {"add_months": ["2026-01-01"]},
        {"eq": [{"today": None}, "2026-06-10"]},  # the clock, not the day being scanned
        "__import__('os').system('true')",  # a string is a literal, never code
    ],
)
def test_the_engine_refuses_unsafe_or_malformed_rules(unsafe: object) -> None:
    raw = {
        "id": "x",
        "name": {"ja": "x", "en": "x"},
        "message": {"ja": "x", "en": "x"},
        "when": unsafe,
        "period": {"var": "today"},
    }
    if isinstance(unsafe, str):
        rule = proactive.parse_rule(raw, "test")
        assert rules.evaluate(rule.when, {}) == unsafe  # data, not executed
        return
    with pytest.raises(PackError):
        proactive.parse_rule(raw, "test")


def test_prefill_must_name_fields_of_the_procedure() -> None:
    raw = {
        "id": "x", "name": {"ja": "x", "en": "x"}, "message": {"ja": "x", "en": "x"},
        "when": True, "period": "p", "procedure": "jidou_teate", "prefill": {"child.shoe_size": 1},
    }  # fmt: skip
    with pytest.raises(PackError, match="shoe_size"):
        proactive.parse_rule(raw, "test")


def test_pack_rules_load() -> None:
    assert set(proactive.proactive_rules()) == {
        "jidou_teate_after_birth", "jidou_teate_after_moving_in", "kenshin_3sai",
        "jidou_teate_genkyo", "kaigo_koushin",
    }  # fmt: skip
    assert KEN_BORN < MEI_BORN


def test_scan_command_is_idempotent(
    world: World, family: Family, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "get_settings", lambda: world.settings)
    runner = CliRunner()
    first = runner.invoke(app, ["lifeevent", "scan", "--date", DAY.isoformat()])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["offered"] == 4
    again = json.loads(runner.invoke(app, ["lifeevent", "scan", "--date", "2026-06-11"]).output)
    assert (again["offered"], again["already"]) == (0, 4)
    assert runner.invoke(app, ["lifeevent", "scan", "--date", "June"]).exit_code != 0


# --- API and pages ---------------------------------------------------------------------------


def _birth_notice(world: World) -> ProactiveNotice:
    _scan(world, DAY)
    return next(n for n in _notices(world) if n.rule_id == "jidou_teate_after_birth")


def test_notice_api_is_for_the_resident_only(
    world: World, family: Family, login: Login, client: TestClient
) -> None:
    birth = _birth_notice(world)
    assert client.get("/api/me/notices").status_code == 401
    assert client.post(f"/api/me/notices/{birth.id}/accept").status_code == 401
    official = login(official=world.chiyoda_reviewer)
    assert official.get("/api/me/notices").status_code == 403
    assert official.post(f"/api/me/notices/{birth.id}/accept").status_code == 403
    for outsider in (login(person=world.stranger), login(person=family.yoko)):
        assert outsider.get("/api/me/notices").json() == []
        assert outsider.get(f"/api/me/notices/{birth.id}").status_code == 404
        assert outsider.post(f"/api/me/notices/{birth.id}/accept").status_code == 404
        assert outsider.post(f"/api/me/notices/{birth.id}/dismiss").status_code == 404
    ichiro = login(person=family.ichiro)
    listed = ichiro.get("/api/me/notices").json()
    assert {n["rule_id"] for n in listed} == {
        "jidou_teate_after_birth", "kenshin_3sai", "jidou_teate_genkyo"
    }  # fmt: skip
    shown = ichiro.get(f"/api/me/notices/{birth.id}").json()
    assert (
        shown["name_ja"] == "児童手当の請求" and shown["prefill"]["child"]["given_name"] == "芽衣"
    )
    forged = login(person=family.ichiro)
    del forged.headers["x-csrf-token"]
    assert forged.post(f"/api/me/notices/{birth.id}/accept").status_code == 403
    weak = login(person=family.ichiro, ial=2)  # 児童手当 needs identity level 3
    assert weak.post(f"/api/me/notices/{birth.id}/accept").status_code == 403
    accepted = ichiro.post(f"/api/me/notices/{birth.id}/accept")
    assert accepted.status_code == 200, accepted.text
    app_id = accepted.json()["application_id"]
    assert accepted.json()["form_url"] == f"/applications/{app_id}/form"
    assert ichiro.post(f"/api/me/notices/{birth.id}/accept").json()["application_id"] == app_id
    assert ichiro.get(f"/api/me/notices/{birth.id}").json()["status"] == "accepted"
    assert ichiro.post(f"/api/me/notices/{birth.id}/dismiss").status_code in (400, 422)


def test_notice_pages_apply_with_one_button(
    world: World, family: Family, login: Login, client: TestClient
) -> None:
    birth = _birth_notice(world)
    assert client.get("/me/notices").status_code == 401
    assert login(person=world.stranger).get(f"/me/notices/{birth.id}").status_code == 404
    ichiro = login(person=family.ichiro)
    listing = ichiro.get("/me/notices?lang=ja")
    assert listing.status_code == 200
    assert "児童手当の請求" in listing.text and "3歳児健康診査" in listing.text
    assert "Claim the child allowance" in ichiro.get("/me/notices?lang=en").text
    page = ichiro.get(f"/me/notices/{birth.id}?lang=ja")
    assert "芽衣" in page.text and "申請する" in page.text and "子の名" in page.text
    token = ichiro.headers["x-csrf-token"]
    anonymous_form = client.post(f"/me/notices/{birth.id}/accept", data={"csrf_token": token})
    assert anonymous_form.status_code == 401
    done = ichiro.post(
        f"/me/notices/{birth.id}/accept", data={"csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    app_id = done.headers["location"].split("/")[2]
    assert done.headers["location"] == f"/applications/{app_id}/form"
    form = ichiro.get(done.headers["location"])
    assert form.status_code == 200 and 'value="芽衣"' in form.text  # the draft's form, prefilled
    with transaction(world.factory) as session:
        app = procedures.get(session, world.person(family.ichiro), app_id)
        assert json.loads(app.form_data)["child"]["birth_date"] == MEI_BORN.isoformat()
    assert "/applications/" in ichiro.get(f"/me/notices/{birth.id}?lang=ja").text
    checkup = next(n for n in _notices(world) if n.rule_id == "kenshin_3sai")
    closed = ichiro.post(
        f"/me/notices/{checkup.id}/dismiss", data={"csrf_token": token}, follow_redirects=False
    )
    assert closed.status_code == 303 and closed.headers["location"] == "/me/notices?saved=dismissed"


def test_a_notice_opened_in_english_leads_to_the_form_in_english(
    world: World, family: Family, login: Login
) -> None:
    birth = _birth_notice(world)
    ichiro = login(person=family.ichiro)
    page = ichiro.get(f"/me/notices/{birth.id}?lang=en").text
    accept = f'action="/me/notices/{birth.id}/accept?lang=en"'
    assert accept in page and f'action="/me/notices/{birth.id}/dismiss?lang=en"' in page
    done = ichiro.post(f"/me/notices/{birth.id}/accept?lang=en", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("/form?lang=en")
    form = ichiro.get(done.headers["location"])
    assert form.headers["content-language"] == "en" and "Application form" in form.text
    # opened without ?lang=, the links keep their plain addresses
    assert f'href="/me/notices/{birth.id}"' in ichiro.get("/me/notices").text


def _browser_login(world: World, page: Page, live_server: str, person: str) -> None:
    with transaction(world.factory) as session:
        started = sessions.start(session, method="card", ial=3, aal=2, person_id=person)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_notice_pages_pass_axe_and_the_keyboard(
    world: World, family: Family, page: Page, live_server: str, lang: str
) -> None:
    birth = _birth_notice(world)
    _browser_login(world, page, live_server, family.ichiro)
    for path in (f"/me/notices?lang={lang}", f"/me/notices/{birth.id}?lang={lang}",
                 f"/me/child-allowance?lang={lang}&on=2026-06-15"):  # fmt: skip
        page.goto(path)
        assert_no_axe_violations(page)
        assert_keyboard_accessible(page, path)
    # One button, keyboard only: Tab to "apply", Enter → the draft's form page.
    page.goto(f"/me/notices/{birth.id}?lang={lang}")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('form[action*=accept] button')"):
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/applications/*/form**")
    assert page.locator("input[value='芽衣']").count() == 1
    assert [n.status for n in _notices(world) if n.id == birth.id] == ["accepted"]
