"""The demo world: three real municipalities, one ministry, residents, corporations, officials.

Places are real (names, readings, postal codes and towns from Japan Post's
data through :mod:`tsunagu.identity.municipalities`); people and companies
are fictitious (names and readings from Faker's ``ja_JP`` provider, whose
name pairs keep kanji and kana matched) and flagged ``demo``.

The world is a pure function of the seed: every household, person and
corporation is drawn from its own random stream (``seed:household:k``), and
every id is a uuid5 of the seed and the item's place in the world, so the
same seed gives identical rows on every machine, and asking for more
residents extends a world instead of changing it. Seeding inserts only the
rows whose ids are missing, so running it twice changes nothing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import pykakasi
from faker import Faker
from sqlalchemy.orm import Session

from tsunagu.core import ids
from tsunagu.core.config import Settings, get_settings
from tsunagu.exchange import notifications, sealing
from tsunagu.exchange import service as exchange
from tsunagu.identity import municipalities as master
from tsunagu.identity import service
from tsunagu.identity.card import enroll_demo_wallets
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import (
    AddressIn,
    HouseholdIn,
    OfficialIn,
    OfficialRole,
    OrganizationIn,
    OrganizationKind,
    PersonIn,
    Relationship,
    Sex,
    UnitIn,
)
from tsunagu.opendata.demo import seed_catalog
from tsunagu.registry.demo import AGENCIES, seed_registers

ACTOR = "demo-seed"
DEMO_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:tsunagu:demo")
# Ages are counted to a fixed day, so a world does not change as time passes.
REFERENCE_DATE = date(2025, 4, 1)

# A Tokyo special ward, a city in another prefecture, a town in a third one;
# where residents live, by weight. Names and everything else come from the master.
MUNICIPALITIES: tuple[tuple[str, float], ...] = (
    ("131130", 0.5),  # 東京都渋谷区
    ("102016", 0.35),  # 群馬県前橋市
    ("363421", 0.15),  # 徳島県名西郡神山町
)
MUNICIPAL_UNITS = (
    ("resident", "住民課", "Resident Affairs Division"),
    ("welfare", "福祉課", "Welfare Division"),
    ("tax", "税務課", "Taxation Division"),
    ("digital", "情報政策課", "Digital Policy Division"),
)
MUNICIPAL_OFFICIALS = (
    (OfficialRole.COUNTER_STAFF, "resident", "主事"),
    (OfficialRole.REGISTRY_KEEPER, "resident", "係長"),
    (OfficialRole.REVIEWER, "welfare", "主任"),
    (OfficialRole.DATA_PUBLISHER, "digital", "主事"),
    (OfficialRole.ADMINISTRATOR, "digital", "課長"),
)
# デジタル庁's real 法人番号 is not in any installed data source, so the demo
# ministry carries a generated one (national organs' numbers start 000012)
# and the organization is flagged ``demo``.
MINISTRY = OrganizationIn(
    kind=OrganizationKind.MINISTRY,
    name_ja="デジタル庁",
    name_kana="デジタルチョウ",
    name_en="Digital Agency",
    corporate_number=ids.complete(ids.IdKind.CORPORATE, "000012999999"),
    demo=True,
)
MINISTRY_SLUG = "digital"
MINISTRY_UNITS = (
    ("services", "国民向けサービスグループ", "Citizen Services Group"),
    ("platform", "デジタル社会共通機能グループ", "Common Digital Functions Group"),
    ("strategy", "戦略・組織グループ", "Strategy and Organization Group"),
)
MINISTRY_OFFICIALS = (
    (OfficialRole.ADMINISTRATOR, "strategy", "参事官"),
    (OfficialRole.DATA_PUBLISHER, "platform", "企画官"),
    (OfficialRole.REVIEWER, "services", "参事官補佐"),
)
# 日本年金機構 is told of every death the demo municipalities record (住民基本台帳法
# 第30条の9), so no one has to report a death to stop a pension. Its number is
# generated (the organization is flagged ``demo``), like the ministry's.
PENSION_OFFICE = OrganizationIn(
    kind=OrganizationKind.OTHER_AGENCY,
    name_ja="日本年金機構",
    name_kana="ニホンネンキンキコウ",
    name_en="Japan Pension Service",
    corporate_number=ids.complete(ids.IdKind.CORPORATE, "701999999998"),
    demo=True,
)
PENSION_FUNCTION = "pension_service"
DEATH_NOTICES = ("juki-nenkin-shibo", "died")
# 全国健康保険協会, keeper of the demo 健康保険 register, is told of deaths likewise (住民基本台帳法
# 第30条の9), so no one reports a death to the employee health insurer either.
HEALTH_INSURER = AGENCIES["kenpo"]
HEALTH_INSURER_DEATH_NOTICES = ("juki-kenpo-shibo", "died")


@dataclass(frozen=True)
class NotifiedAgency:
    """An agency designated for its statutory function and subscribed to a register event."""

    organization: OrganizationIn
    function: str
    notices: tuple[str, str]  # (legal basis of the notification, event)


NOTIFIED_AGENCIES = (
    NotifiedAgency(PENSION_OFFICE, PENSION_FUNCTION, DEATH_NOTICES),
    NotifiedAgency(HEALTH_INSURER, "health_insurer", HEALTH_INSURER_DEATH_NOTICES),
)
CORPORATIONS = 20
# 会社法人等番号: registry office (4 digits), legal form (2), serial (6).
LEGAL_FORMS = {
    "株式会社": ("01", "Co., Ltd."),
    "有限会社": ("02", "Ltd."),
    "合同会社": ("03", "LLC"),
}
OFFICIAL_AGES = range(22, 65)


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(DEMO_NAMESPACE, ":".join(str(p) for p in parts)))


@lru_cache(maxsize=1)
def _kakasi() -> pykakasi.kakasi:
    return pykakasi.kakasi()


def _reading(word: str) -> tuple[str, str]:
    """Katakana reading and Hepburn romanisation of a common word (e.g. 建設)."""
    parts = _kakasi().convert(word)
    return "".join(p["kana"] for p in parts), "".join(p["hepburn"] for p in parts)


@dataclass(frozen=True)
class Member:
    relationship: Relationship
    sex: Sex
    age: int


@dataclass
class World:
    """Everything the seed will make, with ids, before anything touches the database."""

    units: list[tuple[str, str, UnitIn]] = field(default_factory=list)  # id, org, unit
    corporations: list[tuple[str, OrganizationIn]] = field(default_factory=list)
    households: list[tuple[str, HouseholdIn]] = field(default_factory=list)
    persons: list[tuple[str, PersonIn]] = field(default_factory=list)
    officials: list[tuple[str, OfficialIn]] = field(default_factory=list)


class _Places:
    """Towns fit for a made-up address (named, no partial-area note) per municipality."""

    def __init__(self) -> None:
        self.towns = {
            code: [t for t in master.towns(code) if t.note is None] for code, _ in MUNICIPALITIES
        }

    def address(self, rng: random.Random, fake: Faker, code: str, *, office: bool) -> AddressIn:
        town = rng.choice(self.towns[code])
        urban = code == MUNICIPALITIES[0][0]
        if town.has_chome:
            block = f"{rng.randint(1, 3)}丁目{rng.randint(1, 25)}番{rng.randint(1, 20)}号"
        elif urban:  # 住居表示: 番 and 号
            block = f"{rng.randint(1, 40)}番{rng.randint(1, 20)}号"
        else:  # 地番: 番地, sometimes with a 枝番
            block = f"{rng.randint(1, 2500)}番地" + (
                f"{rng.randint(1, 9)}" if rng.random() < 0.4 else ""
            )
        building = None
        if office or rng.random() < (0.6 if urban else 0.15):
            building = (
                f"{fake.building_name()}{town.name} {rng.randint(1, 12)}{rng.randint(1, 12):02d}"
            )
        return AddressIn(
            postal_code=town.postal_code,
            municipality_code=code,
            town=town.name,
            block=block,
            building=building,
        )


def _pick_municipality(rng: random.Random) -> str:
    """Where a household or company is, by the weights of ``MUNICIPALITIES``."""
    return rng.choices([c for c, _ in MUNICIPALITIES], [w for _, w in MUNICIPALITIES])[0]


def _birth_date(rng: random.Random, age: int) -> date:
    """A birthday that makes the person ``age`` on the reference date."""
    latest = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age)
    return latest - timedelta(days=rng.randrange(365))


def _children(rng: random.Random, youngest_parent: int, count: int) -> list[Member]:
    oldest = min(youngest_parent - 20, 24)
    return [
        Member(
            Relationship.CHILD, rng.choice((Sex.MALE, Sex.FEMALE)), rng.randint(0, max(oldest, 0))
        )
        for _ in range(count)
    ]


def _couple(rng: random.Random, low: int, high: int) -> list[Member]:
    """A head and spouse; in most registered couples the husband is the head."""
    head_age = rng.randint(low, high)
    spouse_age = max(18, min(100, head_age + rng.randint(-6, 4)))
    head_sex = Sex.MALE if rng.random() < 0.9 else Sex.FEMALE
    spouse_sex = Sex.FEMALE if head_sex is Sex.MALE else Sex.MALE
    return [
        Member(Relationship.HEAD, head_sex, head_age),
        Member(Relationship.SPOUSE, spouse_sex, spouse_age),
    ]


def _household_members(rng: random.Random) -> list[Member]:
    """One household, in roughly the 2020 census mix of household types.

    (単独・夫婦のみ・夫婦と子・ひとり親と子・三世代)
    """
    kind = rng.choices(
        ("single", "couple", "family", "single_parent", "three_generations"),
        weights=(38, 20, 25, 9, 8),
    )[0]
    any_sex = rng.choice((Sex.MALE, Sex.FEMALE))
    if kind == "single":
        age = rng.randint(65, 96) if rng.random() < 0.35 else rng.randint(19, 64)
        return [Member(Relationship.HEAD, any_sex, age)]
    if kind == "couple":
        return _couple(rng, 24, 88) if rng.random() < 0.4 else _couple(rng, 65, 92)
    if kind == "family":
        parents = _couple(rng, 28, 56)
        return parents + _children(
            rng, min(m.age for m in parents), rng.choices((1, 2, 3), (4, 5, 1))[0]
        )
    if kind == "single_parent":
        head = Member(
            Relationship.HEAD, Sex.FEMALE if rng.random() < 0.85 else Sex.MALE, rng.randint(26, 55)
        )
        return [head, *_children(rng, head.age, rng.randint(1, 2))]
    parents = _couple(rng, 35, 58)
    elders = [
        Member(Relationship.PARENT, sex, min(100, parents[0].age + rng.randint(24, 36)))
        for sex in rng.sample((Sex.MALE, Sex.FEMALE), rng.randint(1, 2))
    ]
    return parents + _children(rng, min(m.age for m in parents), rng.randint(1, 2)) + elders


def _given_name(fake: Faker, sex: Sex) -> tuple[str, str]:
    kanji, kana, _ = (
        fake.first_name_male_pair() if sex is Sex.MALE else fake.first_name_female_pair()
    )
    return kanji, kana


class _Residents:
    """Draws households and their members, one random stream per household."""

    def __init__(self, seed: int, places: _Places) -> None:
        self.seed = seed
        self.places = places
        self.fake = Faker("ja_JP")
        self.numbers: set[str] = set()

    def _mynumber(self, rng: random.Random) -> str:
        while True:
            number = ids.generate(ids.IdKind.MYNUMBER, rng)
            if number not in self.numbers:
                self.numbers.add(number)
                return number

    def households(
        self, residents: int
    ) -> Iterator[tuple[str, HouseholdIn, list[tuple[str, PersonIn]]]]:
        made, index = 0, 0
        while made < residents:
            rng = random.Random(f"{self.seed}:household:{index}")
            self.fake.seed_instance(f"{self.seed}:household-names:{index}")
            members = _household_members(rng)[: residents - made]
            code = _pick_municipality(rng)
            household_id = _uuid(self.seed, "household", index)
            household = HouseholdIn(
                address=self.places.address(rng, self.fake, code, office=False), demo=True
            )
            family, family_kana, _ = self.fake.last_name_pair()
            persons = []
            for position, member in enumerate(members):
                persons.append(
                    (
                        _uuid(self.seed, "person", index, position),
                        self._person(rng, member, household_id, family, family_kana),
                    )
                )
            yield household_id, household, persons
            made += len(members)
            index += 1

    def _person(
        self, rng: random.Random, member: Member, household_id: str, family: str, family_kana: str
    ) -> PersonIn:
        given, given_kana = _given_name(self.fake, member.sex)
        former, former_kana = None, None
        if member.relationship is Relationship.SPOUSE and rng.random() < 0.15:
            former, former_kana, _ = self.fake.last_name_pair()  # 旧氏 registered
        return PersonIn(
            family_name=family,
            given_name=given,
            family_name_kana=family_kana,
            given_name_kana=given_kana,
            former_family_name=former if former != family else None,
            former_family_name_kana=former_kana if former != family else None,
            birth_date=_birth_date(rng, member.age),
            sex=member.sex,
            household_id=household_id,
            relationship=member.relationship,
            mynumber=self._mynumber(rng),
            demo=True,
        )


def _corporation(seed: int, index: int, places: _Places, fake: Faker) -> tuple[str, OrganizationIn]:
    rng = random.Random(f"{seed}:corporation:{index}")
    fake.seed_instance(f"{seed}:corporation-names:{index}")
    family, family_kana, family_roman = fake.last_name_pair()
    form = fake.company_prefix()
    category = fake.company_category()
    category_kana, category_roman = _reading(category)
    form_code, form_en = LEGAL_FORMS[form]
    name = f"{form}{family}{category}" if rng.random() < 0.5 else f"{family}{category}{form}"
    base = f"{rng.randint(100, 4999):04d}{form_code}{rng.randrange(10**6):06d}"
    number = ids.complete(ids.IdKind.CORPORATE, base)
    code = _pick_municipality(rng)
    return service.party_id("corporate", number), OrganizationIn(
        kind=OrganizationKind.CORPORATION,
        name_ja=name,
        name_kana=family_kana + category_kana,  # 法人番号 readings leave out the legal form
        name_en=f"{family_roman} {category_roman.capitalize()} {form_en}",
        corporate_number=number,
        address=places.address(rng, fake, code, office=True),
        demo=True,
    )


def _unit_plan(
    organization_id: str, units: tuple[tuple[str, str, str], ...]
) -> list[tuple[str, str, UnitIn]]:
    return [
        (
            _uuid("unit", organization_id, code),
            organization_id,
            UnitIn(code=code, name_ja=ja, name_en=en),
        )
        for code, ja, en in units
    ]


def _official_plan(
    organization_id: str,
    slug: str,
    staff: tuple[tuple[OfficialRole, str, str], ...],
    candidates: list[tuple[str, PersonIn]],
) -> list[tuple[str, OfficialIn]]:
    """One official per role, taken in order from working-age residents not yet chosen."""
    plan = []
    for (role, unit_code, title), (person_id, person) in zip(staff, candidates, strict=False):
        login_name = f"{slug}.{role.value}"
        plan.append(
            (
                _uuid("official", login_name),
                OfficialIn(
                    organization_id=organization_id,
                    unit_id=_uuid("unit", organization_id, unit_code),
                    person_id=person_id,
                    display_name=f"{person.family_name} {person.given_name}",
                    login_name=login_name,
                    title=title,
                    roles=[role],
                    demo=True,
                ),
            )
        )
    del candidates[: len(plan)]
    return plan


def _age(person: PersonIn) -> int:
    born = person.birth_date
    return (
        REFERENCE_DATE.year
        - born.year
        - ((REFERENCE_DATE.month, REFERENCE_DATE.day) < (born.month, born.day))
    )


def plan_world(seed: int, residents: int, organizations: dict[str, str]) -> World:
    """The demo world for ``seed``; ``organizations`` maps municipality codes (and
    ``MINISTRY_SLUG``) to organization ids."""
    places = _Places()
    world = World()
    people = _Residents(seed, places)
    for household_id, household, persons in people.households(residents):
        world.households.append((household_id, household))
        world.persons.extend(persons)
    fake = Faker("ja_JP")
    world.corporations = [_corporation(seed, i, places, fake) for i in range(CORPORATIONS)]
    households = dict(world.households)
    candidates: dict[str, list[tuple[str, PersonIn]]] = {code: [] for code, _ in MUNICIPALITIES}
    names: set[tuple[str, str]] = set()  # officials are told apart by name in the demo
    for person_id, person in world.persons:
        assert person.household_id is not None
        name = (person.family_name, person.given_name)
        if _age(person) in OFFICIAL_AGES and name not in names:
            names.add(name)
            code = households[person.household_id].address.municipality_code
            candidates[str(code)].append((person_id, person))
    for code, _ in MUNICIPALITIES:
        world.units += _unit_plan(organizations[code], MUNICIPAL_UNITS)
        world.officials += _official_plan(
            organizations[code], code, MUNICIPAL_OFFICIALS, candidates[code]
        )
    ministry_id = organizations[MINISTRY_SLUG]
    world.units += _unit_plan(ministry_id, MINISTRY_UNITS)
    world.officials += _official_plan(
        ministry_id, MINISTRY_SLUG, MINISTRY_OFFICIALS, candidates[MUNICIPALITIES[0][0]]
    )
    return world


Item = TypeVar("Item", bound=tuple[Any, ...])


def _missing(session: Session, kind: str, items: list[Item]) -> list[Item]:
    present = service.existing_ids(session, kind, [item_id for item_id, *_ in items])
    return [item for item in items if item[0] not in present]


def _notified_agencies(session: Session, settings: Settings, municipalities: list[str]) -> None:
    """日本年金機構 and 全国健康保険協会, designated for their work and subscribed to death
    notifications (each created unless there, e.g. 協会けんぽ as the 健康保険 register's keeper).

    The municipalities get their seals here too: a notification leaves sealed
    by the register's keeper, so without one a recorded death would wait.
    """
    for agency in NOTIFIED_AGENCIES:
        number = str(agency.organization.corporate_number)
        found = service.find_organization(session, corporate_number=number)
        agency_id = (
            found.id
            if found is not None
            else service.create_organization(
                session, agency.organization, actor=ACTOR, id=service.party_id("corporate", number)
            ).id
        )
        exchange.designate(session, agency_id, agency.function, actor=ACTOR)
        basis_id, event_id = agency.notices
        if not any(
            s.basis_id == basis_id and s.event_id == event_id and s.ended_at is None
            for s in notifications.subscriptions_of(session, agency_id)
        ):
            notifications.subscribe(
                session, subscriber_id=agency_id, basis_id=basis_id, event_id=event_id,
                actor=ACTOR,
            )  # fmt: skip
    store = sealing.store_for(settings)
    for organization_id in municipalities:
        store.ensure(session, organization_id, actor=ACTOR)


def seed_world(
    session: Session, *, seed: int = 2019, residents: int = 200, settings: Settings | None = None
) -> dict[str, Any]:
    """Create (or complete) the demo world for ``seed`` in the caller's transaction.

    Returns a summary: what the world holds, how many rows this run created,
    and a digest of all identity data (equal for equal worlds).
    """
    if residents < 0:
        raise ValueError("residents must not be negative")
    vault = MyNumberVault.from_settings(settings or get_settings())
    organizations = {
        code: service.ensure_local_government(session, code, actor=ACTOR).id
        for code, _ in MUNICIPALITIES
    }
    ministry_id = service.party_id("corporate", str(MINISTRY.corporate_number))
    if not service.existing_ids(session, "organization", [ministry_id]):
        service.create_organization(session, MINISTRY, actor=ACTOR, id=ministry_id)
    organizations[MINISTRY_SLUG] = ministry_id
    world = plan_world(seed, residents, organizations)

    created = 0
    for unit_id, organization_id, unit in _missing(session, "unit", world.units):
        service.create_unit(session, organization_id, unit, actor=ACTOR, id=unit_id)
        created += 1
    for corporation_id, corporation in _missing(session, "organization", world.corporations):
        service.create_organization(session, corporation, actor=ACTOR, id=corporation_id)
        created += 1
    households = _missing(session, "household", world.households)
    service.create_households(
        session, [h for _, h in households], actor=ACTOR, ids=[i for i, _ in households]
    )
    persons = _missing(session, "person", world.persons)
    service.create_persons(
        session, [p for _, p in persons], actor=ACTOR, vault=vault, ids=[i for i, _ in persons]
    )
    created += len(households) + len(persons)
    for official_id, official in _missing(session, "official", world.officials):
        service.create_official(session, official, actor=ACTOR, id=official_id)
        created += 1
    session.flush()
    registers = seed_registers(
        session,
        seed=seed,
        reference=REFERENCE_DATE,
        world=world,
        municipalities=organizations,
        actor=ACTOR,
    )
    demo_wallets = enroll_demo_wallets(session, settings or get_settings())
    _notified_agencies(
        session, settings or get_settings(), [organizations[c] for c, _ in MUNICIPALITIES]
    )
    return {
        "seed": seed,
        "municipalities": ", ".join(
            f"{m.prefecture.name}{m.name} ({m.code})"
            for m in (master.get_municipality(c) for c, _ in MUNICIPALITIES)
        ),
        "ministry": MINISTRY.name_ja,
        "notified_agencies": ", ".join(
            f"{a.organization.name_ja} ({'/'.join(a.notices)})" for a in NOTIFIED_AGENCIES
        ),
        "households": len(world.households),
        "residents": len(world.persons),
        "corporations": len(world.corporations),
        "officials": len(world.officials),
        "created": created,
        "digest": service.content_digest(session),
        "demo_wallets": demo_wallets,
        "registers": registers,
        "opendata": seed_catalog(session, seed=seed, settings=settings or get_settings()),
    }
