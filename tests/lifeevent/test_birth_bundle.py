"""出生・子育て: one signature notifies the birth and claims the allowance, the medical
subsidy and (if chosen) a nursery place; the 就労証明 is fetched from the employer's record only
under the consent the signature carries; the register gets the child once the birth is
approved; check-ups and vaccinations are dated from the birth."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.lifeevent.parents import HOUSEHOLD, Parents, parents_fixture  # noqa: F401
from tests.procedure.conftest import Login, World
from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.exchange.models import AccessLogEntry, Consent
from tsunagu.lifeevent import onestop
from tsunagu.lifeevent.bundles import get_bundle
from tsunagu.procedure import service as procedures
from tsunagu.registry import service as registry
from tsunagu.trust import protocol

BORN = tokyo_today() - timedelta(days=3)
CHOICES = {"informant": "母", "sex": "女", "attendant": "医師", "insurance": "国民健康保険"}
VALUES = {
    "child.given_name": "陽葵",
    "child.family_name_kana": "コバヤシ",
    "child.given_name_kana": "ヒマリ",
    "child.birth_date": BORN.isoformat(),
    "child.birth_place": "東京都千代田区",
    "certificate.name": "佐藤 医師",
    "certificate.institution": "千代田病院",
}
NURSERY = {"nursery.start_on": "2027-04-01", "nursery.first": "永田町保育園"}


def _file(world: World, parents: Parents, nursery: str = "none") -> tuple[str, dict[str, Any]]:
    mother = world.person(parents.mother)
    typed = {**VALUES, **(NURSERY if nursery != "none" else {})}
    with transaction(world.factory) as session:
        filing = onestop.prepare(
            session, mother, "birth", choices={**CHOICES, "apply_nursery": nursery}, values=typed,
            member_ids=[],
        )  # fmt: skip
        assert filing.document is not None
        filing_id, signed = filing.id, filing.document
    with transaction(world.factory) as session:
        onestop.submit(
            session, mother, filing_id, world.signers[parents.mother](signed.encode()),
            store=world.store,
        )  # fmt: skip
    return filing_id, json.loads(signed)


def test_one_signature_notifies_the_birth_and_claims_for_the_child(
    world: World, parents: Parents
) -> None:
    filing_id, signed = _file(world, parents)
    forms = {a["procedure_id"]: a["form"] for a in signed["applications"]}
    assert list(forms) == ["shussei", "jidou_teate", "kodomo_iryo"] and "consents" not in signed
    assert forms["shussei"]["child"]["family_name"] == "小林"  # from the register
    assert forms["jidou_teate"]["account"] == {
        "bank_code": "0005", "branch_code": "001", "type": "普通", "number": "1234567"
    }  # fmt: skip
    assert forms["kodomo_iryo"]["insurance"] == {"kind": "国民健康保険", "insurer_number": "131016"}
    mother = world.person(parents.mother)
    with transaction(world.factory) as session:
        tracker = onestop.tracker(session, mother, filing_id)
        filing = tracker.filing
    assert [p.outcome for p in tracker.parts] == ["submitted"] * 3
    assert (filing.fields_typed, filing.choices) == (len(VALUES), 5)
    assert filing.fields_prefilled >= 6
    shussei = tracker.parts[0]
    with transaction(world.factory) as session:
        [evidence] = procedures.evidence_of(session, shussei.application_id)
    assert (evidence.evidence_type, evidence.outcome) == ("setai", "provided")  # not attached
    reviewer = world.official(world.chiyoda_reviewer)
    with transaction(world.factory) as session:
        procedures.assign(session, reviewer, shussei.application_id)
        procedures.decide(
            session, reviewer, shussei.application_id, True, "出生証明書を確認しました。"
        )
    with transaction(world.factory) as session:
        app = procedures.for_review(session, reviewer, shussei.application_id)
        child_id = procedures.context(session, app)["application"]["new_id"]
        [record] = registry.as_of(session, "juki", child_id)
        [mine] = registry.as_of(session, "juki", parents.mother)
        tracker = onestop.tracker(session, mother, filing_id)
    child = record.data
    assert child["name"] == {"family": "小林", "given": "陽葵"}
    assert (child["birth_date"], child["sex"], child["status"]) == (BORN.isoformat(), "女", "住民")
    assert child["household"] == {
        "household_id": HOUSEHOLD, "head_name": "小林 美咲", "relationship": "子"
    }  # fmt: skip
    assert child["address"] == mine.data["address"] and record.keeper_id == world.chiyoda
    assert child["moved_in"]["reason"] == "出生" and len(child["resident_code"]) == 11
    assert tracker.parts[0].status == "approved"
    assert {p.procedure_id for p in tracker.pending} == {"jidou_teate", "kodomo_iryo"}


def test_the_employment_certificate_is_fetched_only_with_consent(
    login: Login, world: World, parents: Parents
) -> None:
    _, consented = _file(world, parents, "fetch")
    [nursery] = [a for a in consented["applications"] if a["procedure_id"] == "hoiku"]
    # the consent is part of what was signed, next to the applications
    assert consented["consents"] == {nursery["application_id"]: ["shuro_shomei"]}
    assert nursery["form"]["preferences"] == {"first": "永田町保育園"}
    assert nursery["form"]["reason"] == "就労"
    _, paper = _file(world, parents, "paper")
    [on_paper] = [a for a in paper["applications"] if a["procedure_id"] == "hoiku"]
    assert "consents" not in paper
    with transaction(world.factory) as session:
        fetched = {
            row.evidence_type: row
            for row in procedures.evidence_of(session, nursery["application_id"])
        }
        refused = {
            row.evidence_type: row
            for row in procedures.evidence_of(session, on_paper["application_id"])
        }
        consents = list(session.execute(select(Consent)).scalars())
        log = {
            (e.application_ref, e.outcome, e.reason)
            for e in session.execute(
                select(AccessLogEntry).where(AccessLogEntry.evidence_type_id == "shuro_shomei")
            ).scalars()
        }
    certificate = json.loads(fetched["shuro_shomei"].records)[0]["data"]
    assert fetched["shuro_shomei"].outcome == "provided"
    assert fetched["shuro_shomei"].owner_id == parents.employer
    assert certificate["employer"]["name"] == "つなぐ商事株式会社"
    assert "monthly_wage" not in certificate  # the evidence type shows no wage
    assert refused["shuro_shomei"].outcome == "not_consented"
    assert refused["juminhyo"].outcome == "provided"  # the other evidence still comes
    assert [(c.party_id, c.evidence_type_id) for c in consents] == [
        (parents.mother, "shuro_shomei")
    ]
    assert (on_paper["application_id"], "refused", "consent_missing") in log
    page = login(person=parents.mother).get(f"/applications/{on_paper['application_id']}")
    assert page.status_code == 200 and "同意がないため取得していません" in page.text
    assert any(
        ref == nursery["application_id"] and outcome != "refused" for ref, outcome, _r in log
    )


def test_check_ups_and_vaccinations_are_dated_from_the_birth() -> None:
    bundle = get_bundle("birth")
    dated = dict(
        (item.id, day)
        for item, day in onestop.deadlines(bundle, {"child": {"birth_date": "2026-01-31"}})
    )
    assert dated == {
        "checkup_1m": date(2026, 2, 28),  # the 31st becomes the last day of a shorter month
        "hepatitis_b": date(2026, 3, 31),
        "rotavirus": date(2026, 3, 31),
        "hib": date(2026, 3, 31),
        "pneumococcal": date(2026, 3, 31),
        "pentavalent": date(2026, 3, 31),
        "checkup_3m": date(2026, 4, 30),
        "bcg": date(2026, 6, 30),
        "mr": date(2027, 1, 31),
        "varicella": date(2027, 1, 31),
        "checkup_18m": date(2027, 7, 31),
        "checkup_3y": date(2029, 1, 31),
    }
    assert all(item.kind == "from" for item in bundle.checklist)


def _api_filing(client: TestClient) -> dict[str, Any]:
    body = {"choices": {**CHOICES, "apply_nursery": "none"}, "values": VALUES}  # nobody else
    created = client.post("/api/life-events/birth/filings", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_the_filing_and_its_schedule_are_the_parents_alone(
    client: TestClient, login: Login, world: World, parents: Parents
) -> None:
    assert client.post("/api/life-events/birth/filings", json={}).status_code in (401, 422)
    mother = login(person=parents.mother)
    filing = _api_filing(mother)
    cms = protocol.b64(world.sign(parents.mother, filing["document"]))
    for other in (login(person=parents.father), login(person=world.stranger)):
        assert other.get(f"/api/life-events/filings/{filing['id']}").status_code == 404
        assert other.get(f"/life-events/filings/{filing['id']}/sign").status_code == 404
        submit = other.post(f"/api/life-events/filings/{filing['id']}/submit", json={"cms": cms})
        assert submit.status_code == 404
    official = login(official=world.osaka_reviewer)
    assert official.get(f"/api/life-events/filings/{filing['id']}").status_code in (403, 404)
    tracker = mother.post(f"/api/life-events/filings/{filing['id']}/submit", json={"cms": cms})
    assert tracker.status_code == 200, tracker.text
    result = tracker.json()
    assert result["attachments_requested"] == 0 and len(result["parts"]) == 3
    dated = {item["id"]: item["date"] for item in result["checklist"]}
    assert dated["checkup_3y"] == BORN.replace(year=BORN.year + 3).isoformat()
    for lang, heading in (("ja", "健診と予防接種"), ("en", "Check-ups and vaccinations")):
        page = mother.get(f"/life-events/filings/{filing['id']}", headers={"accept-language": lang})
        assert page.status_code == 200 and heading in page.text and "BCG" in page.text
    stranger = login(person=world.stranger)
    assert stranger.get(f"/life-events/filings/{filing['id']}").status_code == 404
    assert (
        client.get(f"/life-events/filings/{filing['id']}", follow_redirects=False).status_code
        == 303
    )


def test_the_sign_page_says_what_the_signature_consents_to(
    login: Login, world: World, parents: Parents
) -> None:
    mother = login(person=parents.mother)
    for nursery, consents in (("fetch", True), ("paper", False)):
        body = {"choices": {**CHOICES, "apply_nursery": nursery}, "values": {**VALUES, **NURSERY}}
        created = mother.post("/api/life-events/birth/filings", json=body)
        assert created.status_code == 201, created.text
        page = mother.get(f"/life-events/filings/{created.json()['id']}/sign")
        assert page.status_code == 200 and "保育所等の利用申込み" in page.text
        agreed = re.search(r"同意します：\s*就労証明書</p>", page.text)
        assert bool(agreed) is consents
