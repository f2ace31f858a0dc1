"""The employer one-stop (入社・退社) through the API HR software calls, and who may call it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.procedure.conftest import Login, World, _person
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.db import transaction
from tsunagu.exchange import service as exchange
from tsunagu.identity import business, delegation, sessions
from tsunagu.identity import service as parties
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import OrganizationIn, OrganizationKind
from tsunagu.lifeevent import employer
from tsunagu.lifeevent.employer_schemas import HireFacts
from tsunagu.procedure import service as procedures
from tsunagu.procedure.models import Application
from tsunagu.registry import service as registry
from tsunagu.trust import cms, protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import AuthorityRole, OrganizationAttributes, generate_key

Signer = Callable[[bytes], bytes]
CORPORATE = "7701010000010"
OTHER_CORPORATE = "6701010000011"
HIRE_PARTS = ["shikaku_shutoku", "koyou_shutoku"]
LEAVE_PARTS = ["shikaku_soshitsu", "koyou_soshitsu", "jyuminzei_idou"]


@dataclass
class Employers:
    corporation: str
    other: str
    pension: str  # 年金事務所 (日本年金機構)
    hello_work: str  # 公共職業安定所
    member: str  # a member of the corporation's business account
    other_member: str  # a member of another company's account
    seal: Signer
    other_seal: Signer


def _seal(world: World, organization_id: str, name: str, number: str) -> Signer:
    key = generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    with transaction(world.factory) as session:
        row = trust.issue_seal(
            session, world.settings, csr_data=csr.public_bytes(serialization.Encoding.PEM),
            organization=OrganizationAttributes(name, number), subject_ref=organization_id,
            actor="test",
        )  # fmt: skip
        cert, chain = (
            bytes(row.der),
            [trust.authority_certificate(session, AuthorityRole.ORGANIZATION)],
        )

    def sign(content: bytes) -> bytes:
        return cms.sign_detached(
            content, sign=lambda d: cms.raw_signature(key, d), signer_cert_der=cert,
            chain_ders=chain, signing_time=utcnow(),
        )  # fmt: skip

    return sign


@pytest.fixture
def employers(world: World) -> Employers:
    counter = world.official(world.osaka_counter)
    with transaction(world.factory) as session:

        def organization(kind: OrganizationKind, name: str, number: str | None) -> str:
            data = OrganizationIn(
                kind=kind, name_ja=name, name_kana="テスト", corporate_number=number
            )
            return parties.create_organization(session, data, actor="test").id

        corporation = organization(OrganizationKind.CORPORATION, "株式会社つなぐ", CORPORATE)
        other = organization(OrganizationKind.CORPORATION, "株式会社よそ", OTHER_CORPORATE)
        pension = organization(OrganizationKind.OTHER_AGENCY, "日本年金機構", "4011105001589")
        hello_work = organization(OrganizationKind.MINISTRY, "飯田橋公共職業安定所", None)
        exchange.designate(session, pension, "pension_service", actor="test")
        exchange.designate(session, hello_work, "employment_security", actor="test")
        for org in (pension, hello_work):
            world.store.ensure(session, org, actor="test")
        member = business.open_at_counter(
            session, counter, corporate_number=CORPORATE, person_id=world.jiro
        ).member.id
        other_member = business.open_at_counter(
            session, counter, corporate_number=OTHER_CORPORATE, person_id=world.hanako
        ).member.id
    return Employers(
        corporation, other, pension, hello_work, member, other_member,
        _seal(world, corporation, "株式会社つなぐ", CORPORATE),
        _seal(world, other, "株式会社よそ", OTHER_CORPORATE),
    )  # fmt: skip


MemberLogin = Callable[[str], TestClient]


@pytest.fixture
def as_member(app: FastAPI, world: World) -> Iterator[MemberLogin]:
    """A fresh HR-software client logged in as a business member (password + TOTP: AAL2)."""
    opened: list[TestClient] = []

    def run(member_id: str) -> TestClient:
        with transaction(world.factory) as session:
            started = sessions.start(session, method="password", ial=2, aal=2, member_id=member_id)
        client = TestClient(app, base_url="http://testserver")
        client.__enter__()
        opened.append(client)
        client.cookies.set(sessions.COOKIE, started.token)
        client.headers["x-csrf-token"] = sessions.csrf_token(
            world.settings.secret_key, started.token
        )
        return client

    yield run
    for client in opened:
        client.__exit__(None, None, None)


def _member_actor(member_id: str, corporation: str) -> Actor:
    return Actor(
        kind=ActorKind.MEMBER, ial=2, aal=2, member_id=member_id, organization_id=corporation
    )


def _power_of_attorney(
    world: World, emp: Employers, agent: str, procedures: list[str], *, days: int = 30
) -> str:
    """The corporation (its member, with its seal) empowers a 社労士 for these procedures."""
    now = utcnow()
    document = {
        "type": delegation.DOCUMENT_TYPE,
        "principal": {"kind": "organization", "id": emp.corporation},
        "agent": {"kind": "person", "id": agent},
        "procedures": procedures,
        "valid_from": (now - timedelta(days=2)).isoformat(),
        "valid_until": (now + timedelta(days=days)).isoformat(),
    }
    with transaction(world.factory) as session:
        return delegation.register(
            session,
            _member_actor(emp.member, emp.corporation),
            document=document,
            cms_der=emp.seal(protocol.canonical_json(document)),
        ).id


def _hire(world: World, emp: Employers, **overrides: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "employee_person_id": world.taro,
        "employee_birth_date": "1980-01-02",
        "hired_on": tokyo_today().isoformat(),
        "weekly_hours": 40,
        "monthly_pay": 300000,
        "employment_type": "正社員",
        "occupation": "事務",
        "basic_pension_number": "1234567890",
        "social_insurance": {"pension_office_id": emp.pension, "office_code": "12ABC"},
        "employment_insurance": {
            "employment_office_id": emp.hello_work,
            "office_number": "1301-123456-7",
        },
    }
    facts.update(overrides)
    return facts


def _leaver(world: World, emp: Employers) -> dict[str, Any]:
    return {
        "employee_person_id": world.taro,
        "employee_birth_date": "1980-01-02",
        "left_on": (tokyo_today() - timedelta(days=1)).isoformat(),
        "basic_pension_number": "1234567890",
        "employment_insured_number": "1301-000001-2",
        "social_insurance": {"pension_office_id": emp.pension, "office_code": "12ABC"},
        "employment_insurance": {
            "employment_office_id": emp.hello_work,
            "office_number": "1301-123456-7",
        },
        "resident_tax": {"collection": "普通徴収", "annual_tax": 120000, "collected": 70000},
    }


def _submit(client: TestClient, created: dict[str, Any], signer: Signer) -> Any:
    cms_b64 = protocol.b64(signer(protocol.canonical_json(created["document"])))
    return client.post(f"/api/employers/filings/{created['id']}/submit", json={"cms": cms_b64})


def test_hire_files_both_enrolments_under_one_seal_signature(
    world: World, employers: Employers, as_member: MemberLogin
) -> None:
    hr = as_member(employers.member)
    created = hr.post(f"/api/employers/{employers.corporation}/hires", json=_hire(world, employers))
    assert created.status_code == 201, created.text
    body = created.json()
    assert [p["procedure_id"] for p in body["plan"] if p["applies"]] == HIRE_PARTS
    applications = body["document"]["applications"]
    assert [a["procedure_id"] for a in applications] == HIRE_PARTS
    assert all(a["subject"] == {"kind": "organization", "id": employers.corporation}
               for a in applications)  # fmt: skip
    # name, kana, birth date and sex come from the person record, not from the HR software
    assert applications[0]["form"]["employee"]["family_name"] == "鈴木"
    submitted = _submit(hr, body, employers.seal)
    assert submitted.status_code == 200, submitted.text
    status = submitted.json()
    assert [(p["procedure_id"], p["status"]) for p in status["parts"]] == [
        ("shikaku_shutoku", "approved"),
        ("koyou_shutoku", "approved"),
    ]
    assert status["all_completed"] and status["attachments_requested"] == 0
    assert [p["owner_id"] for p in status["parts"]] == [employers.pension, employers.hello_work]
    with transaction(world.factory) as session:
        shuro = registry.as_of(session, "shuro", world.taro)
        assert shuro[0].data["status"] == "在籍" and shuro[0].keeper_id == employers.corporation
        apps = [session.get(Application, p["application_id"]) for p in status["parts"]]
        assert all(a is not None and a.batch_id == body["id"] for a in apps)
    # the parts' states stay visible; a second submission is refused
    again = hr.get(f"/api/employers/filings/{body['id']}")
    assert again.json()["parts"] == status["parts"]
    assert _submit(hr, body, employers.seal).status_code == 422


def test_which_enrolments_a_hire_needs() -> None:
    def plan(**facts: Any) -> list[str]:
        base: dict[str, Any] = {
            "employee_person_id": "x", "employee_birth_date": "1980-01-02",
            "hired_on": "2026-04-01", "weekly_hours": 40,
            "monthly_pay": 300000, "employment_type": "正社員", "occupation": "事務",
        }  # fmt: skip
        decisions = employer.hire_plan(HireFacts(**{**base, **facts}))
        return [d.procedure_id for d in decisions if d.applies]

    assert plan() == HIRE_PARTS
    assert plan(weekly_hours=25, monthly_pay=120000) == ["koyou_shutoku"]
    assert plan(weekly_hours=25, monthly_pay=120000, large_employer=True) == HIRE_PARTS
    assert plan(weekly_hours=25, monthly_pay=80000, large_employer=True) == ["koyou_shutoku"]
    assert plan(weekly_hours=15) == []


def test_a_hire_needing_nothing_or_missing_an_office_is_refused(
    world: World, employers: Employers, as_member: MemberLogin
) -> None:
    hr = as_member(employers.member)
    path = f"/api/employers/{employers.corporation}/hires"
    nothing = hr.post(path, json=_hire(world, employers, weekly_hours=10))
    assert nothing.status_code == 422 and nothing.json()["error"]["code"] == "nothing_to_file"
    # a user ID with the wrong birth date reveals nobody's name
    stranger = hr.post(path, json=_hire(world, employers, employee_birth_date="1999-09-09"))
    assert stranger.status_code == 422
    assert stranger.json()["error"]["code"] == "employee_not_found"
    assert "鈴木" not in stranger.text
    missing = hr.post(path, json=_hire(world, employers, employment_insurance=None))
    assert missing.status_code == 422
    error = missing.json()["error"]
    assert error["code"] == "employer_facts_missing" and "雇用保険" in error["message_ja"]


def _employed(world: World, emp: Employers) -> None:
    """太郎 has worked for the corporation since 2020: insured, in its 就労 register."""
    with transaction(world.factory) as session:
        registry.assert_fact(
            session, "kenpo", world.taro,
            {
                "insurer_number": "01130012", "insurer_name": "全国健康保険協会 東京支部",
                "symbol": "12ABC", "number": "42", "member_type": "被保険者",
                "employer": {"name": "株式会社つなぐ", "corporate_number": CORPORATE},
                "acquired_on": "2020-04-01", "status": "資格取得",
            },
            keeper_id=emp.pension, actor="test", valid_from=date(2020, 4, 1),
        )  # fmt: skip
        registry.assert_fact(
            session, "shuro", world.taro,
            {
                "employer": {"name": "株式会社つなぐ", "corporate_number": CORPORATE},
                "employee_name": "鈴木 太郎", "employment_type": "正社員",
                "employed_since": "2020-04-01",
                "working_time": {"days_per_week": 5, "hours_per_week": 40}, "status": "在籍",
            },
            keeper_id=emp.corporation, actor="test", valid_from=date(2020, 4, 1),
        )  # fmt: skip


def test_leaver_files_the_three_notices_and_the_registers_follow(
    world: World, employers: Employers, as_member: MemberLogin
) -> None:
    _employed(world, employers)
    hr = as_member(employers.member)
    created = hr.post(
        f"/api/employers/{employers.corporation}/leavers", json=_leaver(world, employers)
    )
    assert created.status_code == 201, created.text
    body = created.json()
    forms = {a["procedure_id"]: a["form"] for a in body["document"]["applications"]}
    assert list(forms) == LEAVE_PARTS
    # the member number this employer enrolled him under; his municipality from 住基
    assert forms["shikaku_soshitsu"]["employee"]["insured_number"] == "42"
    assert forms["jyuminzei_idou"]["employee"]["municipality_code"] == "131016"
    assert forms["koyou_soshitsu"]["cause"] == "事業主の都合による離職以外の離職"
    status = _submit(hr, body, employers.seal)
    assert status.status_code == 200, status.text
    parts = status.json()["parts"]
    assert [(p["procedure_id"], p["status"]) for p in parts] == [
        (procedure, "approved") for procedure in LEAVE_PARTS
    ]
    assert parts[2]["owner_id"] == world.chiyoda
    today = tokyo_today()
    with transaction(world.factory) as session:
        kenpo = registry.version_at(session, "kenpo", world.taro, today)
        assert kenpo is not None and kenpo.data["status"] == "資格喪失"
        assert kenpo.data["lost_on"] == today.isoformat()
        shuro = registry.version_at(session, "shuro", world.taro, today, record_key=CORPORATE)
        assert shuro is not None and shuro.data["status"] == "退職"
        before = registry.version_at(
            session, "shuro", world.taro, today - timedelta(days=1), record_key=CORPORATE
        )
        assert before is not None and before.data["status"] == "在籍"
        # the municipality read its own resident register instead of an attached 住民票
        tax = session.get(Application, parts[2]["application_id"])
        assert tax is not None
        evidence = procedures.evidence_of(session, tax.id)
        assert [(e.evidence_type, e.outcome) for e in evidence] == [("juminhyo", "provided")]


def test_the_resident_tax_goes_to_the_municipality_of_1_january(
    world: World, employers: Employers, as_member: MemberLogin
) -> None:
    assert employer.levy_day(date(2026, 11, 30)) == date(2026, 1, 1)
    assert employer.levy_day(date(2027, 5, 31)) == date(2026, 1, 1)
    assert employer.levy_day(date(2027, 6, 1)) == date(2027, 1, 1)
    with transaction(world.factory) as session:
        vault = MyNumberVault.from_settings(world.settings)
        newcomer = _person(session, vault, "田中", "新")  # in no resident register
    facts = {**_leaver(world, employers), "employee_person_id": newcomer}
    hr = as_member(employers.member)
    refused = hr.post(f"/api/employers/{employers.corporation}/leavers", json=facts)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "employee_not_resident"
    # without resident tax to change, the two insurance notices go on their own
    facts["resident_tax"] = None
    created = hr.post(f"/api/employers/{employers.corporation}/leavers", json=facts)
    assert created.status_code == 201, created.text
    parts = [a["procedure_id"] for a in created.json()["document"]["applications"]]
    assert parts == LEAVE_PARTS[:2]


def test_a_sharoushi_under_the_corporations_power_of_attorney_files(
    world: World, employers: Employers, login: Login, as_member: MemberLogin
) -> None:
    poa = _power_of_attorney(world, employers, world.stranger, HIRE_PARTS)
    sharoushi = login(person=world.stranger)
    created = sharoushi.post(
        f"/api/employers/{employers.corporation}/hires", json=_hire(world, employers)
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert {a["delegation_id"] for a in body["document"]["applications"]} == {poa}
    # the 社労士 signs with their own card; the corporation's seal is not needed
    submitted = _submit(sharoushi, body, world.signers[world.stranger])
    assert submitted.status_code == 200, submitted.text
    assert {p["status"] for p in submitted.json()["parts"]} == {"approved"}
    # the corporation's members see what its 社労士 filed
    hr = as_member(employers.member)
    seen = hr.get(f"/api/employers/filings/{body['id']}")
    assert seen.status_code == 200 and len(seen.json()["parts"]) == 2
    own = hr.post(f"/api/employers/{employers.corporation}/hires", json=_hire(world, employers))
    listed = f"/api/employers/{employers.corporation}/filings"
    assert [f["id"] for f in hr.get(listed).json()] == [own.json()["id"], body["id"]]
    assert [f["id"] for f in sharoushi.get(listed).json()] == [body["id"]]


@pytest.mark.parametrize("state", ["expired", "revoked", "too_narrow"])
def test_a_sharoushi_without_a_valid_power_of_attorney_is_refused(
    world: World, employers: Employers, login: Login, state: str
) -> None:
    covered = ["shikaku_shutoku"] if state == "too_narrow" else HIRE_PARTS
    poa = _power_of_attorney(
        world, employers, world.stranger, covered, days=-1 if state == "expired" else 30
    )
    sharoushi = login(person=world.stranger)
    path = f"/api/employers/{employers.corporation}/hires"
    if state != "revoked":
        refused = sharoushi.post(path, json=_hire(world, employers))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "not_for_this_employer"
        return
    created = sharoushi.post(path, json=_hire(world, employers)).json()
    with transaction(world.factory) as session:
        delegation.revoke(session, _member_actor(employers.member, employers.corporation), poa)
    refused = _submit(sharoushi, created, world.signers[world.stranger])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "no_power_of_attorney"
    status = sharoushi.get(f"/api/employers/filings/{created['id']}").json()
    assert status["status"] == "prepared" and {p["status"] for p in status["parts"]} == {"draft"}


def test_who_may_call_the_employer_api(
    world: World, employers: Employers, login: Login, as_member: MemberLogin, client: TestClient
) -> None:
    hires = f"/api/employers/{employers.corporation}/hires"
    leavers = f"/api/employers/{employers.corporation}/leavers"
    hr = as_member(employers.member)
    created = hr.post(hires, json=_hire(world, employers)).json()
    filing = f"/api/employers/filings/{created['id']}"
    submit = f"{filing}/submit"
    signed = {"cms": protocol.b64(employers.seal(protocol.canonical_json(created["document"])))}
    listed = f"/api/employers/{employers.corporation}/filings"
    # anonymous
    assert client.get(listed).status_code == 401
    assert client.post(hires, json=_hire(world, employers)).status_code == 401
    assert client.post(leavers, json=_leaver(world, employers)).status_code == 401
    assert client.get(filing).status_code == 401
    assert client.post(submit, json=signed).status_code == 401
    # another company's member, a resident without a power of attorney, an official
    outsiders = (
        as_member(employers.other_member),
        login(person=world.hanako),
        login(official=world.chiyoda_reviewer),
    )
    for outsider in outsiders:
        assert outsider.post(hires, json=_hire(world, employers)).status_code == 403
        assert outsider.post(leavers, json=_leaver(world, employers)).status_code == 403
        assert outsider.get(filing).status_code == 404
        assert outsider.get(listed).json() == []
        assert outsider.post(submit, json=signed).status_code == 404
    # only a corporation has employers' filings
    other = as_member(employers.other_member)
    assert other.post(f"/api/employers/{world.chiyoda}/hires", json=_hire(world, employers)
                      ).status_code == 404  # fmt: skip
    # the right member, but with another company's seal
    wrong = _submit(hr, created, employers.other_seal)
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_signer"
    assert hr.post(submit, json=signed).status_code == 200


def _loss_notice(hr: TestClient, emp: Employers, **overrides: Any) -> tuple[str, Any]:
    """taro's 資格喪失届 (born 1980-01-02, left yesterday) filed through the procedure's own
    API and sealed; ``overrides`` of None drop a field. The application's id and the answer."""
    left_on = tokyo_today() - timedelta(days=1)
    form: dict[str, Any] = {
        "office_code": "12ABC",
        "employee": {
            "person_id": "taro", "basic_pension_number": "1234567890",
            "family_name": "鈴木", "given_name": "太郎", "birth_date": "1980-01-02",
        },
        "lost_on": (left_on + timedelta(days=1)).isoformat(),
        "reason": "退職等",
        "left_on": left_on.isoformat(),
    }  # fmt: skip
    form.update(overrides)
    body = {
        "form": {key: value for key, value in form.items() if value is not None},
        "organization_id": emp.pension,
        "on_behalf_of": {"kind": "organization", "id": emp.corporation},
    }
    created = hr.post("/api/procedures/shikaku_soshitsu/applications", json=body)
    assert created.status_code == 200, created.text
    return created.json()["id"], _submit_application(hr, created.json(), emp.seal)


def _submit_application(client: TestClient, created: dict[str, Any], signer: Signer) -> Any:
    cms_b64 = protocol.b64(signer(protocol.canonical_json(created["document"])))
    return client.post(f"/api/applications/{created['id']}/submit", json={"cms": cms_b64})


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({"lost_on": (tokyo_today() + timedelta(days=2)).isoformat(), "left_on": None},
         "tomorrow at the latest"),
        ({"lost_on": "1980-01-02", "left_on": None}, "after the employee's date of birth"),
        ({"lost_on": (tokyo_today() - timedelta(days=2)).isoformat()},
         "not be before the last day of employment"),
        ({"lost_on": (tokyo_today() + timedelta(days=1)).isoformat(),
          "left_on": (tokyo_today() - timedelta(days=3)).isoformat()},
         "the day after the last day of employment (left_on) at the latest"),
        ({"lost_on": "2026-02-30"}, "is not a date"),
    ],
)  # fmt: skip
def test_the_procedures_own_api_refuses_a_loss_date_the_law_does_not_allow(
    world: World, employers: Employers, as_member: MemberLogin,
    overrides: dict[str, Any], refused: str,
) -> None:  # fmt: skip
    """健康保険法 第36条: coverage is lost on the day after the employee left (or that day, when
    enrolled again that day), notified after the fact; any other date is a 422 naming lost_on."""
    app_id, answer = _loss_notice(as_member(employers.member), employers, **overrides)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["error"]["errors"]
    assert error["path"] == "lost_on" and refused in error["message_en"]
    assert error["message_en"].startswith("lost_on ") and "(lost_on)" in error["message_ja"]
    with transaction(world.factory) as session:
        app = session.get(Application, app_id)
        assert app is not None and app.status == "draft"  # nothing was submitted


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the day after the last day of employment
        {"lost_on": (tokyo_today() - timedelta(days=1)).isoformat()},  # enrolled again that day
        {"lost_on": tokyo_today().isoformat(), "left_on": None, "reason": "死亡"},
    ],
)
def test_a_loss_date_the_law_allows_is_accepted(
    employers: Employers, as_member: MemberLogin, overrides: dict[str, Any]
) -> None:
    _, answer = _loss_notice(as_member(employers.member), employers, **overrides)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "approved"
