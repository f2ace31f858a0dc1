"""Register changes of approvals beyond the 住基 procedures: 国民健康保険 (enrolment and loss),
児童手当 (a recipient, and a further child of theirs), 要介護認定 (the care level the reviewer
records), 罹災証明 (one more certificate with the damage level). A rejection changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.packs import PackError, load_file
from tsunagu.procedure import definitions, service
from tsunagu.procedure.models import Application
from tsunagu.registry import service as registry

from .conftest import World

TODAY = tokyo_today()
KAIGO_REVIEW = {
    "care_level": "要介護2",
    "period": {"from": TODAY.isoformat(), "to": (TODAY + timedelta(days=364)).isoformat()},
}
RISAI_REVIEW = {"disaster_kind": "地震", "damage_level": "半壊", "inspected_on": TODAY.isoformat()}


def _file(world: World, person: str, procedure: str, form: dict[str, Any]) -> Application:
    actor = world.person(person)
    with transaction(world.factory) as session:
        draft = service.create(session, actor, procedure, form)
        signature = world.sign(person, service.document(draft))
        return service.submit(session, actor, draft.id, signature, store=world.store).application


def _review(
    world: World, app: Application, approved: bool, review: dict[str, Any] | None = None
) -> None:
    reviewer = world.official(world.chiyoda_reviewer)
    with transaction(world.factory) as session:
        service.assign(session, reviewer, app.id)
        service.decide(session, reviewer, app.id, approved, "審査しました。", review)


def _records(world: World, registry_id: str, person: str) -> list[dict[str, Any]]:
    with transaction(world.factory) as session:
        return [v.data for v in registry.as_of(session, registry_id, person)]


def _kokuho(change: str) -> dict[str, Any]:
    day = (TODAY - timedelta(days=2)).isoformat()
    reason = "職場の健康保険の喪失" if change == "加入" else "職場の健康保険への加入"
    return {"change": change, "reason": reason, "event_date": day}


def test_kokuho_enrolment_then_loss(world: World) -> None:
    joined = _file(world, world.taro, "kokuho", _kokuho("加入"))
    assert joined.status == "approved" and joined.automatic  # the rules decide enrolments
    [record] = _records(world, "kokuho", world.taro)
    assert record["status"] == "資格取得" and record["acquired_on"] == _kokuho("加入")["event_date"]
    assert record["insurer_number"] == "131016" and record["head_of_household"]
    assert record["number"] == service.serial(joined)
    left = _file(world, world.taro, "kokuho", _kokuho("喪失"))
    assert left.status == "submitted"
    _review(world, left, True)
    [record] = _records(world, "kokuho", world.taro)
    assert record["status"] == "資格喪失" and record["lost_on"] == _kokuho("喪失")["event_date"]
    assert record["number"] == service.serial(joined)  # the same member, now gone


def test_a_rejected_kokuho_loss_changes_nothing(world: World) -> None:
    _file(world, world.taro, "kokuho", _kokuho("加入"))
    before = _records(world, "kokuho", world.taro)
    _review(world, _file(world, world.taro, "kokuho", _kokuho("喪失")), False)
    assert _records(world, "kokuho", world.taro) == before


def _jidou_teate() -> dict[str, Any]:
    return {
        "child": {
            "family_name": "鈴木",
            "given_name": "三郎",
            "birth_date": (TODAY - timedelta(days=20)).isoformat(),
            "relationship": "子",
            "living_together": True,
        },
        "account": {"bank_code": "0001", "branch_code": "001", "type": "普通", "number": "1234567"},
    }


def test_jidou_teate_approval_records_the_recipient(world: World) -> None:
    app = _file(world, world.taro, "jidou_teate", _jidou_teate())
    with transaction(world.factory) as session, pytest.raises(service.FormInvalid):
        reviewer = world.official(world.chiyoda_reviewer)
        service.assign(session, reviewer, app.id)
        service.decide(session, reviewer, app.id, True, "認定します。")  # amount missing
    reviewer = world.official(world.chiyoda_reviewer)
    with transaction(world.factory) as session:
        service.assign(session, reviewer, app.id)
        service.decide(session, reviewer, app.id, True, "認定します。", {"monthly_amount": 15000})
    [record] = _records(world, "jidou_teate", world.taro)
    assert record["status"] == "支給中" and record["monthly_amount"] == 15000
    assert record["children"] == [
        {
            "name": "鈴木 三郎",
            "birth_date": _jidou_teate()["child"]["birth_date"],
            "cohabiting": True,
        }
    ]
    assert record["certified_on"] == TODAY.isoformat()
    rejected = _file(world, world.jiro, "jidou_teate", _jidou_teate())
    _review(world, rejected, False)
    assert _records(world, "jidou_teate", world.jiro) == []


def test_jidou_teate_gakukaitei_adds_the_child_to_the_children_held_at_approval(
    world: World,
) -> None:
    """The child joins the list the register holds when the approval is made: a change made
    between the claim and its approval (another child added) is kept, not overwritten by the
    copy fetched at submission."""
    first = _file(world, world.taro, "jidou_teate", _jidou_teate())
    _review(world, first, True, {"monthly_amount": 15000})
    child = {**_jidou_teate()["child"], "given_name": "四郎", "person_id": world.jiro}
    claim = _file(world, world.taro, "jidou_teate_gakukaitei", {"child": child})
    with transaction(world.factory) as session:
        fetched = {row.evidence_type: row.outcome for row in service.evidence_of(session, claim.id)}
    assert claim.status == "submitted"  # the named person is of the household: no refusal
    assert fetched == dict.fromkeys(["setai", "setai_zokugara", "jidou_teate_juryo"], "provided")
    meanwhile = {"name": "鈴木 五郎", "birth_date": "2015-06-01", "cohabiting": False}
    with transaction(world.factory) as session:
        [current] = registry.as_of(session, "jidou_teate", world.taro)
        registry.change(
            session, "jidou_teate", world.taro,
            {"children": [*current.data["children"], meanwhile]},
            actor="test", valid_from=TODAY,
        )  # fmt: skip
    _review(world, claim, True, {"monthly_amount": 40000})
    [record] = _records(world, "jidou_teate", world.taro)
    assert [c["name"] for c in record["children"]] == ["鈴木 三郎", "鈴木 五郎", "鈴木 四郎"]
    assert record["children"][2]["person_id"] == world.jiro
    assert record["monthly_amount"] == 40000


def _kaigo() -> dict[str, Any]:
    return {
        "kind": "新規",
        "insured_number": "1234567890",
        "situation": "在宅",
        "doctor": {"name": "医師 一郎", "institution": "千代田病院"},
    }


def test_kaigo_approval_sets_the_care_level_the_reviewer_records(world: World) -> None:
    app = _file(world, world.taro, "kaigo_nintei", _kaigo())
    assert app.status == "submitted"
    with transaction(world.factory) as session, pytest.raises(service.FormInvalid):
        reviewer = world.official(world.chiyoda_reviewer)
        service.assign(session, reviewer, app.id)
        service.decide(
            session, reviewer, app.id, True, "認定", {**KAIGO_REVIEW, "care_level": "要介護9"}
        )
    _review(world, app, True, KAIGO_REVIEW)
    [record] = _records(world, "kaigo", world.taro)
    assert record["care_level"] == "要介護2" and record["period"] == KAIGO_REVIEW["period"]
    assert record["insured_number"] == "1234567890" and record["certified_on"] == TODAY.isoformat()
    # a later application (区分変更) changes the level of the same record
    again = _file(world, world.taro, "kaigo_nintei", {**_kaigo(), "kind": "区分変更"})
    _review(world, again, True, {**KAIGO_REVIEW, "care_level": "要介護3"})
    [record] = _records(world, "kaigo", world.taro)
    assert record["care_level"] == "要介護3"
    _review(world, _file(world, world.jiro, "kaigo_nintei", _kaigo()), False, KAIGO_REVIEW)
    assert _records(world, "kaigo", world.jiro) == []


def _risai() -> dict[str, Any]:
    return {
        "disaster": {
            "name": "令和8年千代田区地震",
            "occurred_on": (TODAY - timedelta(days=5)).isoformat(),
        },
        "dwelling": {"municipality_code": "131016", "address": "東京都千代田区永田町1-1"},
        "relation": "所有者兼居住者",
        "damage": "外壁のひび割れ、屋根瓦の落下",
    }


def test_risai_approval_adds_a_certificate_with_the_damage_level(world: World) -> None:
    app = _file(world, world.taro, "risai_shomei", _risai())
    _review(world, app, True, RISAI_REVIEW)
    [record] = _records(world, "risai", world.taro)
    assert record["certificate_number"] == service.serial(app)
    assert record["damage_level"] == "半壊" and record["disaster"]["kind"] == "地震"
    assert record["dwelling_address"] == "東京都千代田区永田町1-1"
    assert record["issued_on"] == TODAY.isoformat()
    _review(world, _file(world, world.jiro, "risai_shomei", _risai()), False)
    assert _records(world, "risai", world.jiro) == []


def test_review_facts_only_where_the_procedure_asks_for_them(world: World) -> None:
    app = _file(world, world.taro, "kokuho", _kokuho("喪失"))
    reviewer = world.official(world.chiyoda_reviewer)
    with transaction(world.factory) as session, pytest.raises(service.ValidationError):
        service.assign(session, reviewer, app.id)
        service.decide(session, reviewer, app.id, True, "ok", {"care_level": "要介護1"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e["patch"].update(status="$review.level"), "must start with"),  # no form
        (lambda e: e.pop("patch"), "a patch, a record or both"),
        (lambda e: e.update(when={"exec": "rm -rf"}), "unknown rule operator"),
        (lambda e: e["patch"].update(status={"$join": "$form.x"}), "$join"),
    ],
)
def test_broken_effects_are_refused(tmp_path: Path, change: Any, message: str) -> None:
    raw = load_file(Path(definitions.__file__).parent.parent / "packs/jp/procedures/shibou.yaml")
    change(raw["effects"][0])
    path = tmp_path / "shibou.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PackError) as raised:
        definitions._parse(load_file(path), path)
    assert message in str(raised.value)
