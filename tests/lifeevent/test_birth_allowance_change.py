"""出生・子育て for a parent who already receives the child allowance: the same signature that
notifies the birth files the 額改定請求 (児童手当法 第9条) instead of a second 認定請求, and its
approval adds the child to the children the register holds. Filed directly, a claim for a
child recorded in another household is refused by rule, and only the recipient (or someone
holding their power of attorney) may file it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.lifeevent.parents import (  # noqa: F401
    FIRST_AMOUNT,
    FIRST_BORN,
    Parents,
    first_child_fixture,
    parents_fixture,
)
from tests.lifeevent.test_birth_bundle import CHOICES, VALUES
from tests.procedure.conftest import Login, World, _signer
from tsunagu.core.clock import tokyo_today
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.demo import seed
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.lifeevent import allowance, onestop
from tsunagu.procedure import service as procedures
from tsunagu.registry import service as registry
from tsunagu.registry.models import RegistryRecord
from tsunagu.trust import protocol

BORN = date.fromisoformat(VALUES["child.birth_date"])
GAKUKAITEI = "jidou_teate_gakukaitei"


def _file(world: World, parents: Parents) -> dict[str, Any]:
    """The birth bundle, prepared and signed once by the mother; the signed document."""
    mother = world.person(parents.mother)
    with transaction(world.factory) as session:
        filing = onestop.prepare(
            session, mother, "birth", choices={**CHOICES, "apply_nursery": "none"},
            values=VALUES, member_ids=[],
        )  # fmt: skip
        assert filing.document is not None
        filing_id, signed = filing.id, filing.document
    with transaction(world.factory) as session:
        onestop.submit(
            session, mother, filing_id, world.signers[parents.mother](signed.encode()),
            store=world.store,
        )  # fmt: skip
    return {"id": filing_id, **json.loads(signed)}


def _approve(world: World, application_id: str, review: dict[str, Any] | None = None) -> None:
    reviewer = world.official(world.chiyoda_reviewer)
    with transaction(world.factory) as session:
        procedures.assign(session, reviewer, application_id)
        procedures.decide(session, reviewer, application_id, True, "確認しました。", review)


def test_a_recipient_s_second_birth_claims_the_higher_amount(
    world: World, parents: Parents, first_child: str
) -> None:
    signed = _file(world, parents)
    forms = {a["procedure_id"]: a for a in signed["applications"]}
    assert list(forms) == ["shussei", GAKUKAITEI, "kodomo_iryo"]  # no second 認定請求
    claim = forms[GAKUKAITEI]
    assert claim["form"] == {
        "child": {"family_name": "小林", "given_name": "陽葵", "birth_date": BORN.isoformat(),
                  "relationship": "子", "living_together": True},
    }  # fmt: skip
    assert claim["subject"]["id"] == parents.mother
    mother = world.person(parents.mother)
    with transaction(world.factory) as session:
        tracker = onestop.tracker(session, mother, signed["id"])
        evidence = {
            row.evidence_type: row.outcome
            for row in procedures.evidence_of(session, claim["application_id"])
        }
    assert [p.outcome for p in tracker.parts] == ["submitted"] * 3
    assert tracker.parts[1].status == "submitted"  # the amount is the reviewer's to set
    # the household and the current entitlement come from the registers; the newborn is not
    # in the resident register yet, so nothing is fetched about them
    assert evidence == {"setai": "provided", "jidou_teate_juryo": "provided"}
    _approve(world, forms["shussei"]["application_id"])
    today = tokyo_today()
    with transaction(world.factory) as session:
        children = allowance.household_children(session, parents.mother, today)
    assert sorted(c.label for c in children) == ["蓮", "陽葵"]
    amount = allowance.calculate(children, today).monthly_total
    assert amount > FIRST_AMOUNT
    _approve(world, claim["application_id"], {"monthly_amount": amount})
    with transaction(world.factory) as session:
        [record] = registry.as_of(session, "jidou_teate", parents.mother)
        tracker = onestop.tracker(session, mother, signed["id"])
    assert record.data["children"] == [
        {"name": "小林 蓮", "person_id": first_child, "birth_date": FIRST_BORN.isoformat(),
         "cohabiting": True},
        {"name": "小林 陽葵", "birth_date": BORN.isoformat(), "cohabiting": True},
    ]  # fmt: skip
    assert record.data["monthly_amount"] == amount
    assert (record.data["recipient_number"], record.data["status"]) == ("1310160002", "支給中")
    assert {p.procedure_id for p in tracker.pending} == {"kodomo_iryo"}


def test_a_parent_without_the_allowance_claims_it_and_a_former_recipient_again(
    world: World, parents: Parents
) -> None:
    signed = _file(world, parents)
    assert [a["procedure_id"] for a in signed["applications"]] == [
        "shussei", "jidou_teate", "kodomo_iryo"
    ]  # fmt: skip
    with transaction(world.factory) as session:  # an entitlement that ended (消滅)
        registry.assert_fact(
            session, "jidou_teate", parents.mother,
            {"recipient_number": "1310160003", "certified_on": "2020-04-10", "children": [],
             "monthly_amount": 0, "status": "消滅"},
            keeper_id=world.chiyoda, actor="test", valid_from=date(2020, 4, 10),
        )  # fmt: skip
    again = _file(world, parents)
    assert [a["procedure_id"] for a in again["applications"]] == [
        "shussei", "jidou_teate", "kodomo_iryo"
    ]  # fmt: skip


def _claim(child_id: str | None, *, living_together: bool = True) -> dict[str, Any]:
    child: dict[str, Any] = {
        "family_name": "小林", "given_name": "蓮", "birth_date": FIRST_BORN.isoformat(),
        "relationship": "子", "living_together": living_together,
    }  # fmt: skip
    return {"child": {**child, "person_id": child_id} if child_id else child}


def _submit(world: World, client: TestClient, person: str, form: dict[str, Any]) -> Any:
    created = client.post(f"/api/procedures/{GAKUKAITEI}/applications", json={"form": form})
    assert created.status_code == 200, created.text
    cms = protocol.b64(world.sign(person, created.json()["document"]))
    return client.post(f"/api/applications/{created.json()['id']}/submit", json={"cms": cms})


def test_a_child_of_another_household_is_refused_with_the_reason(
    world: World, login: Login, parents: Parents, first_child: str
) -> None:
    mother = login(person=parents.mother)
    refused = _submit(world, mother, parents.mother, _claim(world.stranger))
    assert refused.status_code == 200, refused.text
    result = refused.json()
    assert (result["status"], result["automatic"]) == ("rejected", True)
    assert "同じ世帯に記録されていません" in result["decision_reason"]
    assert "not recorded in your household" in result["decision_reason"]
    [fetched] = [e for e in result["evidence"] if e["evidence_type"] == "setai_zokugara"]
    assert fetched["records"] == []  # what was fetched about someone else is not the filer's
    reviewer = login(official=world.chiyoda_reviewer)
    evidence = reviewer.get(f"/api/applications/{result['id']}").json()["evidence"]
    [seen] = [e for e in evidence if e["evidence_type"] == "setai_zokugara"]
    # about the person named, only the household number, relationship and status
    assert set(seen["records"][0]["data"]) == {"household", "status"}
    assert set(seen["records"][0]["data"]["household"]) == {"household_id", "relationship"}
    for lang, reason in (("ja", "同じ世帯に記録されていません"), ("en", "not recorded in your")):
        page = mother.get(f"/applications/{result['id']}", headers={"accept-language": lang})
        assert page.status_code == 200 and reason in page.text
    # living apart is for a reviewer (別居監護), and the child of the household passes the rule
    for form in (_claim(world.stranger, living_together=False), _claim(first_child)):
        pending = _submit(world, mother, parents.mother, form).json()
        assert (pending["status"], pending["automatic"]) == ("submitted", False)
    with transaction(world.factory) as session:
        [record] = registry.as_of(session, "jidou_teate", parents.mother)
    assert len(record.data["children"]) == 1  # a refusal changes nothing


def test_only_a_current_recipient_files_it_for_themselves(
    client: TestClient, world: World, login: Login, parents: Parents, first_child: str
) -> None:
    url = f"/api/procedures/{GAKUKAITEI}/applications"
    assert client.post(url, json={"form": _claim(first_child)}).status_code == 401
    mother = {"kind": "person", "id": parents.mother}
    for someone in (parents.father, world.stranger):  # same household or not: no attorney
        other = login(person=someone)
        answer = other.post(url, json={"form": _claim(first_child), "on_behalf_of": mother})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "no_power_of_attorney"
    official = login(official=world.chiyoda_reviewer)
    assert official.post(url, json={"form": _claim(first_child)}).status_code == 403
    # the father receives no allowance: no office holds a record to raise
    father = login(person=parents.father)
    with transaction(world.factory) as session:
        world.signers[parents.father] = _signer(session, world.settings, parents.father)
    created = father.post(url, json={"form": _claim(first_child)})
    assert created.status_code == 200
    cms = protocol.b64(world.sign(parents.father, created.json()["document"]))
    refused = father.post(f"/api/applications/{created.json()['id']}/submit", json={"cms": cms})
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "no_register_record"


def test_a_child_not_born_yet_is_refused(
    world: World, login: Login, parents: Parents, first_child: str
) -> None:
    mother = login(person=parents.mother)
    unborn = _claim(None)
    unborn["child"]["birth_date"] = (tokyo_today() + timedelta(days=1)).isoformat()
    result = _submit(world, mother, parents.mother, unborn).json()
    assert (result["status"], result["automatic"]) == ("rejected", True)
    assert "生まれてから請求してください" in result["decision_reason"]


def test_a_birth_in_a_demo_household_receiving_the_allowance_claims_the_higher_amount(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(session_factory) as session:
        seed.seed_world(session, seed=2019, residents=120, settings=settings)
    with transaction(session_factory) as session:
        recipients = session.execute(
            select(RegistryRecord.subject_id).where(RegistryRecord.registry_id == "jidou_teate")
        ).scalars()
        head = sorted(recipients)[0]
        parent = Actor(kind=ActorKind.PERSON, ial=3, aal=2, person_id=head)
        filing = onestop.prepare(
            session, parent, "birth", choices={**CHOICES, "apply_nursery": "none"},
            values=VALUES, member_ids=[],
        )  # fmt: skip
        parts = [p.procedure_id for p in onestop.parts_of(session, filing.id)]
    assert GAKUKAITEI in parts and "jidou_teate" not in parts


def test_the_procedure_and_its_form_are_shown_in_both_languages(
    world: World, login: Login, parents: Parents, first_child: str
) -> None:
    mother = login(person=parents.mother)
    created = mother.post(
        f"/api/procedures/{GAKUKAITEI}/applications", json={"form": _claim(first_child)}
    ).json()
    for lang, words in (("ja", ("児童手当の額改定請求", "15日以内", "子の利用者ID")),
                        ("en", ("Child allowance claim for a higher amount", "within 15 days",
                                "Child&#39;s user ID"))):  # fmt: skip
        headers = {"accept-language": lang}
        about = mother.get(f"/procedures/{GAKUKAITEI}", headers=headers)
        form = mother.get(f"/applications/{created['id']}/form", headers=headers)
        assert about.status_code == form.status_code == 200
        assert words[0] in about.text and words[1] in about.text and words[2] in form.text
