"""The demo world's registers agree with its people and companies, and seeding is idempotent."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.demo import seed
from tsunagu.identity import service as identity
from tsunagu.identity.schemas import OrganizationKind, Relationship
from tsunagu.registry import demo, service
from tsunagu.registry.definitions import registries
from tsunagu.registry.models import RegistryRecord

RESIDENTS = 120
ON = date(2025, 4, 1)


def _current(session: Session, registry_id: str) -> dict[str, list[service.Version]]:
    rows = session.execute(
        select(RegistryRecord.subject_id).where(RegistryRecord.registry_id == registry_id)
    ).scalars()
    return {s: service.as_of(session, registry_id, s) for s in set(rows)}


def _age(born: date) -> int:
    return ON.year - born.year - ((ON.month, ON.day) < (born.month, born.day))


def _counts(session: Session) -> tuple[int, int]:
    records = session.execute(select(func.count()).select_from(RegistryRecord)).scalar_one()
    audits = session.execute(select(func.count()).select_from(AuditRecord)).scalar_one()
    return records, audits


def test_every_register_is_filled_consistently_and_only_once(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(session_factory) as session:
        summary = seed.seed_world(session, seed=2019, residents=RESIDENTS, settings=settings)
    registers = summary["registers"]
    assert set(registers) == set(registries())
    assert registers["juki"] == registers["koseki"] == RESIDENTS
    assert registers["houjin"] == seed.CORPORATIONS
    with transaction(session_factory) as session:
        persons = {p.id: p for p in identity.list_persons(session, limit=1000)}
        juki = _current(session, "juki")
        assert set(juki) == set(persons)
        for person_id, (version,) in juki.items():
            person = persons[person_id]
            assert person.address is not None
            keeper = identity.get_organization(session, version.keeper_id)
            assert keeper.kind is OrganizationKind.MUNICIPALITY
            assert keeper.lgcode == person.address.municipality_code
            assert version.data["name"] == {
                "family": person.family_name,
                "given": person.given_name,
            }
            assert version.data["birth_date"] == person.birth_date.isoformat()
            assert version.data["address"]["town"] == person.address.town
            assert version.data["household"]["household_id"] == person.household_id
            assert version.valid_from.isoformat() == version.data["became_resident"]
            heads = [p for p in persons.values() if p.household_id == person.household_id
                     and p.relationship is Relationship.HEAD]  # fmt: skip
            assert version.data["household"]["head_name"] == heads[0].full_name

        # Everyone under 75 has exactly one health insurance; dependants follow a member.
        kenpo, kokuho = _current(session, "kenpo"), _current(session, "kokuho")
        assert not set(kenpo) & set(kokuho)
        for person_id, person in persons.items():
            insured = person_id in kenpo or person_id in kokuho
            assert insured == (_age(person.birth_date) < 75)
        shuro = _current(session, "shuro")
        employers = {v.data["employer"]["corporate_number"] for vs in shuro.values() for v in vs}
        for person_id, (version,) in kenpo.items():
            employer = version.data["employer"]["corporate_number"]
            assert employer in employers
            if version.data["member_type"] == "被保険者":
                assert shuro[person_id][0].data["employer"]["corporate_number"] == employer
                assert shuro[person_id][0].keeper_id == identity.party_id("corporate", employer)

        # Child allowance: the head of the household, for children of that household.
        for person_id, (version,) in _current(session, "jidou_teate").items():
            assert persons[person_id].relationship is Relationship.HEAD
            for child in version.data["children"]:
                assert persons[child["person_id"]].household_id == persons[person_id].household_id
            assert version.data["monthly_amount"] >= 10_000 * len(version.data["children"])

        # Cars belong to residents, at their address; the register is about its owner.
        for versions in _current(session, "jidosha").values():
            (car,) = versions
            owner = persons[str(car.party_id)]
            assert car.data["owner"]["person_id"] == owner.id
            assert (
                owner.address is not None
                and str(owner.address.town) in car.data["owner"]["address"]
            )

        # Companies: the register matches identity; the representative is a resident.
        names = {p.full_name for p in persons.values()}
        corporations = identity.list_organizations(session, kind=OrganizationKind.CORPORATION)
        houjin = _current(session, "houjin")
        for corporation in corporations:
            (entry,) = houjin[corporation.id]
            assert entry.data["corporate_number"] == corporation.corporate_number
            assert entry.data["trade_name"] == corporation.name_ja
            assert entry.data["representatives"][0]["name"] in names
            assert identity.get_organization(session, entry.keeper_id).name_ja == "法務省"

        # 戸籍 links the same families: spouses point at each other.
        koseki = _current(session, "koseki")
        for person_id, (entry,) in koseki.items():
            spouse = entry.data.get("spouse")
            if spouse:
                (other,) = koseki[spouse["person_id"]]
                assert other.data["spouse"]["person_id"] == person_id
                assert other.data["spouse"]["married_on"] == spouse["married_on"]
        assert Counter(v.reason for vs in juki.values() for v in vs) == {"initial": RESIDENTS}
        before = _counts(session)

    with transaction(session_factory) as session:
        again = seed.seed_world(session, seed=2019, residents=RESIDENTS, settings=settings)
    assert again["registers"] == registers
    with transaction(session_factory) as session:
        assert _counts(session) == before  # no record, no audit record written


def test_registers_are_a_pure_function_of_the_world() -> None:
    organizations = {code: f"org-{code}" for code, _ in seed.MUNICIPALITIES}
    organizations[seed.MINISTRY_SLUG] = "org-ministry"
    world = seed.plan_world(3, 40, organizations)
    keepers = {
        **organizations, "houjin": "moj", "jidosha": "mlit", "kenpo": "kyokai",
        "koukin_kouza": "digital",
    }  # fmt: skip

    def plan() -> list[tuple[str, service.InitialRecord]]:
        residents = demo.residents_of(world.persons, world.households)
        return list(
            demo.plan_registers(3, seed.REFERENCE_DATE, residents, world.corporations, keepers)
        )

    first = plan()
    assert first == plan()
    for registry_id, record in first:
        registries()[registry_id].validator.validate(registry_id, record.data)
        if registry_id in ("juki", "koseki", "shuro", "kenpo", "kokuho", "houjin"):
            assert record.valid_from <= seed.REFERENCE_DATE  # in force on the world's day
