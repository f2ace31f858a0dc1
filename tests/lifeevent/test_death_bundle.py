"""The death of a household head, notified once: the approval of the 死亡届 ends 国保 and 介護保険,
records the new head (chosen when several members of 15 or over remain, without asking when one
does) and every remaining member's 続柄; 日本年金機構 and 協会けんぽ are told by notification.
Nobody files a 世帯主変更届 or anything else."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.lifeevent.bereaved import DIED, Bereaved
from tests.lifeevent.movers import Movers
from tests.procedure.agencies import HEALTH_INSURER, PENSION_SERVICE, told_of_deaths
from tests.procedure.conftest import Login, World, _signer
from tsunagu.core.db import transaction
from tsunagu.core.errors import ValidationError
from tsunagu.exchange import notifications
from tsunagu.exchange.models import AccessLogEntry
from tsunagu.lifeevent import bundles, onestop
from tsunagu.lifeevent.bundles import get_bundle
from tsunagu.packs import PackError
from tsunagu.procedure import service as procedures
from tsunagu.procedure.models import Application
from tsunagu.registry import service as registry

DOCTOR = {"certificate.doctor": "佐藤 医師", "certificate.institution": "千代田病院"}
# 国民健康保険法 第8条・介護保険法 第11条: membership is lost on the day after the death
LOST_ON = DIED + timedelta(days=1)


def _prepare(world: World, filer: str, died: str, **kwargs: Any) -> tuple[str, str]:
    with transaction(world.factory) as session:
        filing = onestop.prepare(
            session, world.person(filer), "death", choices={"informant": "同居の親族"},
            values={"death_date": DIED.isoformat(), "death_place": "東京都千代田区", **DOCTOR},
            member_ids=[died], **kwargs,
        )  # fmt: skip
        assert filing.document is not None
        return filing.id, filing.document


def _file_and_approve(world: World, filer: str, died: str, **kwargs: Any) -> dict[str, Any]:
    """The filer notifies the death in one filing; 千代田区 approves its one application.
    Answers the form of the 死亡届 as filed."""
    filing_id, signed = _prepare(world, filer, died, **kwargs)
    with transaction(world.factory) as session:
        onestop.submit(
            session, world.person(filer), filing_id, world.signers[filer](signed.encode()),
            store=world.store,
        )  # fmt: skip
        [part] = onestop.parts_of(session, filing_id)
    reviewer = world.official(world.chiyoda_reviewer)
    with transaction(world.factory) as session:
        procedures.assign(session, reviewer, part.application_id)
        procedures.decide(
            session, reviewer, part.application_id, True, "死亡診断書を確認しました。"
        )
    with transaction(world.factory) as session:
        app = session.get(Application, part.application_id)
        assert app is not None and app.status == "approved"
        form: dict[str, Any] = json.loads(app.form_data)
    return form


def _household(world: World, *person_ids: str) -> list[tuple[str, str]]:
    """(世帯主の氏名, 続柄) of each person's current resident record."""
    with transaction(world.factory) as session:
        records = [registry.as_of(session, "juki", p)[0].data for p in person_ids]
    return [(r["household"]["head_name"], r["household"]["relationship"]) for r in records]


def test_a_heads_death_ends_care_and_health_insurance_and_names_the_chosen_head(
    world: World, bereaved: Bereaved
) -> None:
    pension = told_of_deaths(world, PENSION_SERVICE)
    insurer = told_of_deaths(world, HEALTH_INSURER)
    with transaction(world.factory) as session:
        household = onestop.household(session, bereaved.son)
        offered = onestop.head_candidates(onestop.get_bundle("death"), household)
    assert {m["id"] for m in offered} == {bereaved.wife, bereaved.son}  # not the boy of ten

    form = _file_and_approve(world, bereaved.son, bereaved.head, new_head=bereaved.son)

    assert form["household_change"]["head_name"] == "山田 健一"
    with transaction(world.factory) as session:
        [record] = registry.as_of(session, "juki", bereaved.head)
        [care] = registry.as_of(session, "kaigo", bereaved.head)
        [insurance] = registry.as_of(session, "kokuho", bereaved.head)
        applications = session.scalar(select(func.count()).select_from(Application))
    assert record.data["status"] == "死亡"
    assert (care.data["status"], care.data["loss_reason"]) == ("資格喪失", "死亡")
    assert care.valid_from == LOST_ON and care.data["care_level"] == "要介護2"
    assert (insurance.data["status"], insurance.data["loss_reason"]) == ("資格喪失", "死亡")
    assert insurance.valid_from == LOST_ON
    assert care.data["lost_on"] == insurance.data["lost_on"] == LOST_ON.isoformat()
    # still members on the day of the death
    assert _enrolment(world, "kaigo", bereaved.head, DIED) == (None, None)  # a member's: no status
    assert _enrolment(world, "kokuho", bereaved.head, DIED) == ("資格取得", "山田 正")
    # the widow's 国保 record names her son from the death; nobody else gets one
    assert _enrolment(world, "kokuho", bereaved.wife, DIED) == ("資格取得", "山田 健一")
    assert _enrolment(world, "kokuho", bereaved.wife, DIED - timedelta(days=1)) == (
        "資格取得", "山田 正",
    )  # fmt: skip
    with transaction(world.factory) as session:
        for person in (bereaved.son, bereaved.grandson):
            assert registry.as_of(session, "kokuho", person) == []
    # the son heads the household; his mother is 母, his nephew-or-son a 縁故者 (relative)
    assert _household(world, bereaved.son, bereaved.wife, bereaved.grandson) == [
        ("山田 健一", "世帯主"), ("山田 健一", "母"), ("山田 健一", "縁故者"),
    ]  # fmt: skip
    assert applications == 1  # the 死亡届 only: no 世帯主変更届, no 資格喪失届

    world.drain()
    with transaction(world.factory) as session:
        for agency in (pension, insurer):
            [item] = notifications.inbox(session, agency)
            assert (item.subject_id, item.events) == (bereaved.head, ["died"])
            [entry] = session.execute(
                select(AccessLogEntry).where(AccessLogEntry.requester_id == agency)
            ).scalars()
            assert (entry.kind, entry.outcome, entry.requester_verified) == (
                "notification", "delivered", True,
            )  # fmt: skip
        assert session.scalar(select(func.count()).select_from(Application)) == 1


def _enrolment(world: World, register: str, person_id: str, day: Any) -> tuple[Any, Any] | None:
    """(資格の状態, 世帯主氏名) of a person's record in a register valid on ``day``."""
    with transaction(world.factory) as session:
        found = registry.as_of(session, register, person_id, valid_on=day)
    return (found[0].data.get("status"), found[0].data.get("head_of_household")) if found else None


def test_the_only_adult_left_becomes_head_without_being_asked(world: World, movers: Movers) -> None:
    with transaction(world.factory) as session:
        world.signers[movers.spouse] = _signer(session, world.settings, movers.spouse)
        household = onestop.household(session, movers.spouse)
        assert onestop.head_candidates(onestop.get_bundle("death"), household) == []
    form = _file_and_approve(world, movers.spouse, movers.head)
    assert form["household_change"] == {
        "head_name": "中村 美咲",
        "members": [
            {"id": movers.spouse, "name": "中村 美咲", "relationship": "世帯主"},
            {"id": movers.child, "name": "中村 蓮", "relationship": "子"},
        ],
    }
    assert _household(world, movers.spouse, movers.child) == [
        ("中村 美咲", "世帯主"), ("中村 美咲", "子"),
    ]  # fmt: skip
    # both still in 国保, which now names the new head; the dead one's enrolment ends next day
    for person in (movers.spouse, movers.child):
        assert _enrolment(world, "kokuho", person, DIED) == ("資格取得", "中村 美咲")
    assert _enrolment(world, "kokuho", movers.head, DIED) == ("資格取得", "中村 健太")
    assert _enrolment(world, "kokuho", movers.head, LOST_ON) == ("資格喪失", "中村 健太")


def test_a_members_death_changes_no_head(world: World, movers: Movers) -> None:
    form = _file_and_approve(world, movers.head, movers.spouse, new_head=movers.child)
    assert "household_change" not in form  # the head lives: a choice made anyway is ignored
    assert _household(world, movers.head, movers.child) == [
        ("中村 健太", "世帯主"), ("中村 健太", "子"),
    ]  # fmt: skip
    # the others' 国保 records keep their head; the spouse's enrolment ends the next day
    for person in (movers.head, movers.child):
        assert _enrolment(world, "kokuho", person, LOST_ON) == ("資格取得", "中村 健太")
    assert _enrolment(world, "kokuho", movers.spouse, LOST_ON) == ("資格喪失", "中村 健太")
    assert _enrolment(world, "kokuho", movers.spouse, DIED) == ("資格取得", "中村 健太")


@pytest.mark.parametrize(
    ("chosen", "code", "ja", "en"),
    [
        (None, "choose_new_head", "「新しい世帯主」を選んでください", "Choose the new head"),
        ("grandson", "new_head_too_young", "15歳以上の方", "aged 15 or over"),
        ("head", "new_head_not_in_household", "この世帯に残る方", "remains in this household"),
        ("stranger", "new_head_not_in_household", "この世帯に残る方", "remains in this household"),
    ],
)
def test_a_new_head_must_remain_and_be_fifteen(
    world: World, bereaved: Bereaved, chosen: str | None, code: str, ja: str, en: str
) -> None:
    people = {"grandson": bereaved.grandson, "head": bereaved.head, "stranger": world.stranger}
    new_head = people[chosen] if chosen else None
    with pytest.raises(ValidationError) as refused:
        _prepare(world, bereaved.son, bereaved.head, new_head=new_head)
    assert refused.value.code == code
    assert ja in refused.value.message_ja and en in refused.value.message_en
    with transaction(world.factory) as session:  # nothing filed, nothing changed
        assert onestop.filings(session, world.person(bereaved.son)) == []
        assert session.scalar(select(func.count()).select_from(Application)) == 0
    assert _household(world, bereaved.head, bereaved.son) == [
        ("山田 正", "世帯主"), ("山田 正", "子"),
    ]  # fmt: skip


def test_the_death_notifications_own_form_neither_shows_nor_drops_the_new_head(
    world: World, bereaved: Bereaved, login: Login
) -> None:
    """The new head is worked out by the life event: the 死亡届's own form has no control for
    it, and saving that form (e.g. after 補正) keeps it."""
    filing_id, _signed = _prepare(world, bereaved.son, bereaved.head, new_head=bereaved.wife)
    with transaction(world.factory) as session:
        [part] = onestop.parts_of(session, filing_id)
    son = login(person=bereaved.son)
    page = son.get(f"/applications/{part.application_id}/form")
    assert page.status_code == 200 and "household_change" not in page.text
    fields = {
        "f.death_date": DIED.isoformat(), "f.death_place": "自宅", "f.informant": "同居の親族",
        "f.certificate.doctor": "佐藤 医師", "f.certificate.institution": "千代田病院",
    }  # fmt: skip
    saved = son.post(
        f"/applications/{part.application_id}/form", data={**fields, "action": "save"},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303
    with transaction(world.factory) as session:
        app = session.get(Application, part.application_id)
        assert app is not None
        form = json.loads(app.form_data)
    assert form["death_place"] == "自宅"
    assert form["household_change"]["head_name"] == "山田 和子"
    assert [m["relationship"] for m in form["household_change"]["members"]] == [
        "子", "世帯主", "孫",
    ]  # fmt: skip


def _fact(person_id: str, relationship: str, born: str, sex: str) -> dict[str, Any]:
    age = DIED.year - int(born[:4])
    return {"id": person_id, "name": f"山田 {person_id}", "relationship": relationship,
            "birth_date": born, "sex": sex, "age": age}  # fmt: skip


def test_the_new_heads_siblings_lodgers_and_others_get_their_relationship() -> None:
    household = [
        _fact("filer", "子", "1980-01-01", "男"),
        _fact("head", "世帯主", "1950-01-01", "男"),
        _fact("sister", "子", "1975-06-01", "女"),
        _fact("brother", "子", "1985-06-01", "男"),
        _fact("uncle", "弟", "1955-06-01", "男"),
        _fact("lodger", "同居人", "1960-06-01", "女"),
    ]
    change = onestop.household_change(
        get_bundle("death"), household, [household[1]], new_head="filer"
    )
    assert change is not None and change["head_name"] == "山田 filer"
    assert {m["id"]: m["relationship"] for m in change["members"]} == {
        "filer": "世帯主", "sister": "姉", "brother": "弟", "uncle": "縁故者", "lodger": "同居人",
    }  # fmt: skip


def test_a_head_change_table_names_only_the_registers_relationships() -> None:
    raw = {
        "label": {"ja": "新しい世帯主", "en": "New head"},
        "min_age": 15,
        "relationships": {"妻": {"子": "息子"}},
        "otherwise": "縁故者",
    }
    with pytest.raises(PackError, match="息子"):
        bundles._head_change(raw, "death.yaml")


def test_the_new_head_is_never_typed_through_the_procedures_own_api(
    world: World, bereaved: Bereaved, login: Login
) -> None:
    """Only the life event sets the new head, from the registers: a 死亡届 filed directly with
    one is refused (nothing created), and replacing a life-event draft's form keeps it."""
    son = login(person=bereaved.son)
    form = {
        "death_date": DIED.isoformat(), "death_place": "自宅", "informant": "同居の親族",
        "certificate": {"doctor": "佐藤 医師", "institution": "千代田病院"},
    }  # fmt: skip
    typed = {"head_name": "佐藤 三郎", "members": [
        {"id": world.stranger, "name": "佐藤 三郎", "relationship": "世帯主"}]}  # fmt: skip
    refused = son.post(
        "/api/procedures/shibou/applications",
        json={"form": {**form, "household_change": typed},
              "on_behalf_of": {"kind": "person", "id": bereaved.head}},
    )  # fmt: skip
    error = refused.json()["error"]
    assert refused.status_code == 422 and error["code"] == "derived_field"
    assert "入力できません" in error["message_ja"] and "cannot be typed" in error["message_en"]
    with transaction(world.factory) as session:
        assert session.scalar(select(func.count()).select_from(Application)) == 0

    filing_id, _signed = _prepare(world, bereaved.son, bereaved.head, new_head=bereaved.wife)
    with transaction(world.factory) as session:
        [part] = onestop.parts_of(session, filing_id)
    path = f"/api/applications/{part.application_id}/form"
    assert son.put(path, json={"form": {**form, "household_change": typed}}).status_code == 422
    assert son.put(path, json={"form": form}).status_code == 200
    with transaction(world.factory) as session:
        app = session.get(Application, part.application_id)
        assert app is not None
        stored = json.loads(app.form_data)
    assert stored["death_place"] == "自宅"
    assert stored["household_change"]["head_name"] == "山田 和子"


def test_the_pages_name_each_evidence_once_though_it_is_fetched_about_every_member(
    world: World, login: Login, bereaved: Bereaved
) -> None:
    """国保 is fetched about the deceased and again about each remaining member: the resident's
    pages list it once, the per-member answers stay the office's (API and effects)."""
    son = login(person=bereaved.son)
    kokuho = {"ja": "国民健康保険の資格情報", "en": "National Health Insurance enrolment"}
    for language, name in kokuho.items():
        assert son.get(f"/procedures/shibou?lang={language}").text.count(name) == 1
    filing_id, signed = _prepare(world, bereaved.son, bereaved.head, new_head=bereaved.son)
    with transaction(world.factory) as session:
        [part] = onestop.parts_of(session, filing_id)
    review = son.get(f"/applications/{part.application_id}/review?lang=ja").text
    both = "国民健康保険の資格喪失届と保険証、国民健康保険の世帯主変更の届出: 添付は不要"
    assert review.count("台帳から取得します（国民健康保険の資格情報）") == 1 and both in review
    with transaction(world.factory) as session:
        onestop.submit(
            session, world.person(bereaved.son), filing_id,
            world.signers[bereaved.son](signed.encode()), store=world.store,
        )  # fmt: skip
    fetched = son.get(f"/api/applications/{part.application_id}").json()["evidence"]
    about_kokuho = [row["outcome"] for row in fetched if row["evidence_type"] == "kokuho_shikaku"]
    # the deceased and the widow are enrolled, the son and the boy are not
    assert sorted(about_kokuho) == ["not_found", "not_found", "provided", "provided"]
    for language, obtained in (("ja", "取得済み（添付不要）"), ("en", "obtained — no attachment")):
        status = son.get(f"/applications/{part.application_id}?lang={language}").text
        assert status.count(kokuho[language]) == 1 and f"{kokuho[language]}: {obtained}" in status
