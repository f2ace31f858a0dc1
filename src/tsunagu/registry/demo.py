"""The demo world's base registries, filled consistently from its people and companies.

Every register says what the identity data says: the 住民基本台帳 holds each
resident at their household's address, the 戸籍 links the same parents,
spouses and children, the employer that certifies a job (就労証明) is a demo
company whose workers and their dependants are in 協会けんぽ while everyone
else under 75 is in the municipality's 国保, the tax register's income follows
from the job or the pension, the child allowance goes to parents of the
children in the household, and cars belong to residents at their addresses.

Like the rest of the seed, the registers are a pure function of the seed and
the world (each record draws from its own random stream), and loading is
idempotent: only subjects without a record in a registry are loaded, so a
second run writes nothing, not even an audit record. The organizations that
keep registers outside the municipalities (法務省, 国土交通省, 全国健康保険協会)
are created, flagged ``demo``, with generated 法人番号 like the demo ministry.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from tsunagu.core import ids
from tsunagu.identity import municipalities as master
from tsunagu.identity import service as identity
from tsunagu.identity.schemas import (
    AddressIn,
    HouseholdIn,
    OrganizationIn,
    OrganizationKind,
    PersonIn,
    Relationship,
    Sex,
)
from tsunagu.registry import service
from tsunagu.registry.service import InitialRecord

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:tsunagu:demo:registers")
# Facts are dated relative to the world's reference day, never to today.
FISCAL_YEAR = 2025
ASSESSED_ON = date(2025, 6, 1)


def _agency(kind: OrganizationKind, ja: str, kana: str, en: str, serial: str) -> OrganizationIn:
    return OrganizationIn(
        kind=kind,
        name_ja=ja,
        name_kana=kana,
        name_en=en,
        corporate_number=ids.complete(ids.IdKind.CORPORATE, serial),
        demo=True,
    )


# Keepers of the registers the municipalities do not keep (national organs' numbers start 000012).
AGENCIES: dict[str, OrganizationIn] = {
    "houjin": _agency(OrganizationKind.MINISTRY, "法務省", "ホウムショウ",
                      "Ministry of Justice", "000012999998"),
    "jidosha": _agency(OrganizationKind.MINISTRY, "国土交通省", "コクドコウツウショウ",
                       "Ministry of Land, Infrastructure, Transport and Tourism", "000012999997"),
    "koukin_kouza": _agency(OrganizationKind.MINISTRY, "デジタル庁", "デジタルチョウ",
                            "Digital Agency", "000012999999"),
    "kenpo": _agency(OrganizationKind.OTHER_AGENCY, "全国健康保険協会",
                     "ゼンコクケンコウホケンキョウカイ", "Japan Health Insurance Association",
                     "701999999999"),
}  # fmt: skip
# 地名 on number plates, by the municipalities of the demo world (運輸支局・自動車検査登録事務所).
PLATE_REGIONS = {"131130": "品川", "102016": "群馬", "363421": "徳島"}
MAKES = ("トヨタ", "ホンダ", "日産", "スズキ", "マツダ", "スバル", "ダイハツ")
PLATE_KANA = "さすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるろれわ"
CARE_OFFICES = (
    "居宅介護支援事業所さくら",
    "ケアプランセンターひまわり",
    "在宅介護支援センターかえで",
)
DISASTER = {
    "name": "令和6年9月の大雨による災害（デモ）",
    "occurred_on": "2024-09-20",
    "kind": "風水害",
}
DISASTER_MUNICIPALITY = "363421"
BIRTH_ORDER = ("長", "二", "三", "四")


@dataclass(frozen=True)
class Resident:
    """A person of the world with their household's facts, as the registers need them."""

    id: str
    person: PersonIn
    household_id: str
    address: AddressIn
    head: PersonIn
    members: tuple[tuple[str, PersonIn], ...]

    @property
    def code(self) -> str:
        return str(self.address.municipality_code)

    def age(self, on: date) -> int:
        born = self.person.birth_date
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@dataclass(frozen=True)
class Job:
    employer_id: str
    employer: OrganizationIn
    kind: str
    since: date
    monthly_wage: int
    hours: int


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, "registers", *parts)))


def _name(person: PersonIn) -> str:
    return f"{person.family_name}\u3000{person.given_name}"


def _address_text(address: AddressIn) -> str:
    municipality = master.get_municipality(str(address.municipality_code))
    line = f"{municipality.prefecture.name}{municipality.name}{address.town or ''}"
    line += address.block or ""
    return f"{line}\u3000{address.building}" if address.building else line


def _address(address: AddressIn) -> dict[str, Any]:
    municipality = master.get_municipality(str(address.municipality_code))
    fields = {
        "postal_code": address.postal_code,
        "municipality_code": municipality.code,
        "prefecture": municipality.prefecture.name,
        "municipality": municipality.name,
        "town": address.town,
        "block": address.block,
        "building": address.building,
    }
    return {k: v for k, v in fields.items() if v}


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(max((end - start).days, 1)))


def _years_after(day: date, years: int) -> date:
    return (
        day.replace(year=day.year + years)
        if (day.month, day.day) != (2, 29)
        else (date(day.year + years, 3, 1))
    )


def residents_of(
    persons: Sequence[tuple[str, PersonIn]], households: Sequence[tuple[str, HouseholdIn]]
) -> list[Resident]:
    """Each person with their household (address, head, members), in the world's order."""
    by_household: dict[str, list[tuple[str, PersonIn]]] = {}
    for person_id, person in persons:
        by_household.setdefault(str(person.household_id), []).append((person_id, person))
    addresses = {household_id: household.address for household_id, household in households}
    found = []
    for person_id, person in persons:
        members = tuple(by_household[str(person.household_id)])
        head = next(p for _, p in members if p.relationship is Relationship.HEAD)
        found.append(
            Resident(person_id, person, str(person.household_id),
                     addresses[str(person.household_id)], head, members)
        )  # fmt: skip
    return found


# --- 住民基本台帳 ------------------------------------------------------------------------------


def _zokugara(person: PersonIn, head: PersonIn, older_than_head: bool) -> str:
    """続柄 as the resident record writes it, relative to the head of household."""
    male = person.sex is Sex.MALE
    relation = person.relationship
    if relation is Relationship.HEAD:
        return "世帯主"
    if relation is Relationship.SPOUSE:
        return "夫" if male else "妻"
    if relation is Relationship.CHILD:
        return "子"
    if relation is Relationship.CHILD_IN_LAW:
        return "子の夫" if male else "子の妻"
    if relation is Relationship.PARENT:
        return "父" if male else "母"
    if relation is Relationship.PARENT_IN_LAW:
        side = "妻" if head.sex is Sex.MALE else "夫"
        return f"{side}の{'父' if male else '母'}"
    if relation is Relationship.GRANDCHILD:
        return "孫"
    if relation is Relationship.SIBLING:
        return ("兄" if male else "姉") if older_than_head else ("弟" if male else "妹")
    return "縁故者" if relation is Relationship.OTHER_RELATIVE else "同居人"


def household_since(seed: int, resident: Resident, reference: date) -> date:
    """When the household came to its address: after the head turned 18, within 25 years,
    at least a month before the reference day."""
    rng = _rng(seed, "household-since", resident.household_id)
    latest = reference - timedelta(days=30)
    earliest = max(_years_after(resident.head.birth_date, 18), reference - timedelta(days=25 * 365))
    return _day(rng, min(earliest, latest), latest)


def juki(seed: int, resident: Resident, reference: date) -> tuple[date, dict[str, Any]]:
    rng = _rng(seed, "juki", resident.id)
    person, head = resident.person, resident.head
    since = household_since(seed, resident, reference)
    born_here = person.birth_date >= since
    became = person.birth_date if born_here else since
    record: dict[str, Any] = {
        "resident_code": f"{rng.randrange(10**11):011d}",
        "name": {"family": person.family_name, "given": person.given_name},
        "kana": {"family": person.family_name_kana, "given": person.given_name_kana},
        "birth_date": person.birth_date.isoformat(),
        "sex": "男" if person.sex is Sex.MALE else "女",
        "address": _address(resident.address),
        "household": {
            "household_id": resident.household_id,
            "head_name": _name(head),
            "relationship": _zokugara(person, head, person.birth_date < head.birth_date),
        },
        "became_resident": became.isoformat(),
        "moved_in": {
            "date": became.isoformat(),
            "notified_on": (became + timedelta(days=rng.randint(0, 13))).isoformat(),
            "reason": "出生" if born_here else "転入",
        },
        "status": "住民",
    }
    if person.former_family_name and person.former_family_name_kana:
        record["former_name"] = {
            "family": person.former_family_name,
            "kana": person.former_family_name_kana,
        }
    if person.relationship not in (Relationship.NON_RELATIVE, Relationship.OTHER_RELATIVE):
        record["honseki"] = {
            "address": _honseki(resident),
            "head_of_family": _name(head),
        }
    return became, record


def _honseki(resident: Resident) -> str:
    """本籍: the demo families keep theirs at the address they live at (without the building)."""
    address = resident.address
    municipality = master.get_municipality(str(address.municipality_code))
    place = f"{municipality.prefecture.name}{municipality.name}"
    return f"{place}{address.town or ''}{address.block or ''}"


# --- 戸籍 ----------------------------------------------------------------------------------


def _members(resident: Resident, *relations: Relationship) -> list[tuple[str, PersonIn]]:
    return [(i, p) for i, p in resident.members if p.relationship in relations]


def _parents_of_children(resident: Resident) -> list[tuple[str, PersonIn]]:
    return _members(resident, Relationship.HEAD, Relationship.SPOUSE)


def _birth_order(child: PersonIn, siblings: list[tuple[str, PersonIn]]) -> str:
    same = sorted(p.birth_date for _, p in siblings if p.sex is child.sex)
    position = same.index(child.birth_date)
    word = "男" if child.sex is Sex.MALE else "女"
    return f"{BIRTH_ORDER[position]}{word}" if position < len(BIRTH_ORDER) else word


def _married_on(
    seed: int, resident: Resident, couple: list[PersonIn], children: list[date]
) -> date:
    rng = _rng(seed, "married", resident.household_id, couple[0].birth_date)
    start = max(_years_after(p.birth_date, 20) for p in couple)
    end = min([*children, date(2025, 3, 1)])
    return _day(rng, start, max(end, start + timedelta(days=2)))


def koseki(seed: int, resident: Resident) -> dict[str, Any]:
    person = resident.person
    record: dict[str, Any] = {
        "honseki": _honseki(resident),
        "head_of_family": _name(resident.head),
        "name": {"family": person.family_name, "given": person.given_name},
        "birth": {"date": person.birth_date.isoformat()},
    }
    children = _members(resident, Relationship.CHILD)
    elders = _members(resident, Relationship.PARENT)
    couple_ids = _parents_of_children(resident)
    if person.relationship in (Relationship.HEAD, Relationship.SPOUSE):
        own_children = children
        partner = [(i, p) for i, p in couple_ids if p is not person]
        parents = elders if person.relationship is Relationship.HEAD else []
    elif person.relationship is Relationship.PARENT:
        own_children = [(i, p) for i, p in resident.members if p.relationship is Relationship.HEAD]
        partner = [(i, p) for i, p in elders if p is not person]
        parents = []
        father = next((p for _, p in elders if p.sex is Sex.MALE), person)
        record["head_of_family"] = _name(father)
    else:
        own_children, partner = [], []
        parents = couple_ids if person.relationship is Relationship.CHILD else []
    if parents:
        record["parents"] = _parents(person, parents, children)
    if partner:
        partner_id, spouse = partner[0]
        couple = [person, spouse]
        births = [p.birth_date for _, p in own_children]
        record["spouse"] = {
            "status": "婚姻中",
            "name": _name(spouse),
            "person_id": partner_id,
            "married_on": _married_on(
                seed, resident, sorted(couple, key=_sort_key), births
            ).isoformat(),
        }
    if own_children:
        record["children"] = [
            {"name": _name(c), "person_id": i, "born_on": c.birth_date.isoformat()}
            for i, c in sorted(own_children, key=lambda item: item[1].birth_date)
        ]
    return record


def _sort_key(person: PersonIn) -> tuple[str, str]:
    return (person.birth_date.isoformat(), person.given_name)


def _parents(
    person: PersonIn, parents: list[tuple[str, PersonIn]], siblings: list[tuple[str, PersonIn]]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for parent_id, parent in parents:
        role = "father" if parent.sex is Sex.MALE else "mother"
        found[role] = _name(parent)
        found[f"{role}_person_id"] = parent_id
    if person.relationship is Relationship.CHILD:
        found["relationship"] = _birth_order(person, siblings)
    return found


# --- work, insurance and tax ------------------------------------------------------------------


def job_of(
    seed: int, resident: Resident, corporations: Sequence[tuple[str, OrganizationIn]],
    reference: date,
) -> Job | None:  # fmt: skip
    """Whether and where the resident works (decided once; every register agrees)."""
    age = resident.age(reference)
    if not corporations or not 18 <= age <= 64:
        return None
    rng = _rng(seed, "job", resident.id)
    chance = 0.3 if age <= 22 else (0.85 if resident.person.sex is Sex.MALE else 0.65)
    if rng.random() >= chance:
        return None
    employer_id, employer = corporations[rng.randrange(len(corporations))]
    kind = rng.choices(("正社員", "パート・アルバイト", "契約社員"), (65, 25, 10))[0]
    earliest = max(
        _years_after(resident.person.birth_date, 18), reference - timedelta(days=30 * 365)
    )
    since = _day(rng, earliest, reference - timedelta(days=30))
    if kind == "パート・アルバイト":
        hours = rng.choice((15, 20, 25, 30))
        wage = round(hours * 4.3 * rng.choice((1100, 1150, 1200, 1300)), -2)
    else:
        hours = 40
        wage = round((180_000 + max(age - 22, 0) * rng.randint(4_000, 9_000)) / 1000) * 1000
    return Job(employer_id, employer, kind, since, int(wage), hours)


def _phone(rng: random.Random, code: str) -> str:
    area = {"131130": "03", "102016": "027", "363421": "088"}.get(code, "03")
    rest = 10 - len(area)  # ten digits with the leading 0
    digits = f"{rng.randrange(10 ** (rest - 1), 10**rest)}"
    return f"{area}-{digits[: rest - 4]}-{digits[rest - 4 :]}"


def shuro(seed: int, resident: Resident, job: Job, reference: date) -> dict[str, Any]:
    rng = _rng(seed, "shuro", resident.id)
    employer = job.employer
    address = employer.address
    record: dict[str, Any] = {
        "employer": {
            "name": employer.name_ja,
            "corporate_number": str(employer.corporate_number),
            **({"address": _address_text(address)} if address else {}),
            "phone": _phone(rng, str(address.municipality_code) if address else ""),
        },
        "employee_name": _name(resident.person),
        "employment_type": job.kind,
        "employed_since": job.since.isoformat(),
        "working_time": {
            "days_per_week": 5 if job.hours >= 30 else 3 + job.hours // 10 - 1,
            "hours_per_week": job.hours,
            "hours_per_month": round(job.hours * 4.3, 1),
            "start": "09:00",
            "end": "18:00" if job.hours >= 40 else f"{9 + job.hours // 5:02d}:00",
        },
        "monthly_wage": job.monthly_wage,
        "status": "在籍",
    }
    if job.kind == "契約社員":
        record["employed_until"] = date(reference.year + 1, 3, 31).isoformat()
    baby = _youngest_child(resident)
    if baby is not None and resident.person.sex is Sex.FEMALE and reference - baby < timedelta(365):
        record["leave"] = {
            "kind": "育児休業",
            "from": (baby + timedelta(days=57)).isoformat(),
            "until": _years_after(baby, 1).isoformat(),
        }
        record["status"] = "休業中"
    return record


def _youngest_child(resident: Resident) -> date | None:
    if resident.person.relationship not in (Relationship.HEAD, Relationship.SPOUSE):
        return None
    births = [p.birth_date for _, p in _members(resident, Relationship.CHILD)]
    return max(births) if births else None


def _insured(job: Job | None) -> bool:
    """Employee health insurance covers full-timers and part-timers from 20 hours a week."""
    return job is not None and job.hours >= 20


def insurance_of(
    resident: Resident, jobs: dict[str, Job | None], reference: date
) -> tuple[str, str | None]:
    """("kenpo", None) as a member, ("kenpo", member id) as a dependant, ("kokuho"|"", None)."""
    if resident.age(reference) >= 75:
        return "", None  # 後期高齢者医療制度
    if _insured(jobs.get(resident.id)):
        return "kenpo", None
    couple = _parents_of_children(resident)
    earners = sorted(
        ((job.monthly_wage, i) for i, _ in couple if _insured(job := jobs.get(i)) and job),
        reverse=True,
    )
    dependant = resident.person.relationship in (
        Relationship.SPOUSE, Relationship.CHILD, Relationship.HEAD, Relationship.PARENT,
    ) and jobs.get(resident.id) is None  # fmt: skip
    if earners and dependant and earners[0][1] != resident.id:
        return "kenpo", earners[0][1]
    return "kokuho", None


def _salary_income(revenue: int) -> int:
    """給与所得: revenue less the employment income deduction (令和2年分以降)."""
    if revenue <= 1_625_000:
        deduction = 550_000
    elif revenue <= 1_800_000:
        deduction = revenue * 40 // 100 - 100_000
    elif revenue <= 3_600_000:
        deduction = revenue * 30 // 100 + 80_000
    elif revenue <= 6_600_000:
        deduction = revenue * 20 // 100 + 440_000
    elif revenue <= 8_500_000:
        deduction = revenue * 10 // 100 + 1_100_000
    else:
        deduction = 1_950_000
    return max(revenue - deduction, 0)


def _pension_income(revenue: int) -> int:
    """雑所得 of a public pension at 65 or over (other income up to 10 million yen)."""
    if revenue <= 3_300_000:
        deduction = 1_100_000
    elif revenue <= 4_100_000:
        deduction = revenue * 25 // 100 + 275_000
    elif revenue <= 7_700_000:
        deduction = revenue * 15 // 100 + 685_000
    else:
        deduction = revenue * 5 // 100 + 1_455_000
    return max(revenue - deduction, 0)


def kazei(
    seed: int, resident: Resident, jobs: dict[str, Job | None], reference: date
) -> dict[str, Any] | None:
    """The resident tax of fiscal 2025 on income of 2024 (所得割 10 %, 均等割 4,000 yen)."""
    if resident.age(reference) < 18:
        return None
    rng = _rng(seed, "kazei", resident.id)
    job = jobs.get(resident.id)
    income: dict[str, int] = {}
    if job is not None:
        months = 12 + (4 if job.kind == "正社員" else 0)  # bonuses
        income["salary_revenue"] = job.monthly_wage * months
        income["salary"] = _salary_income(income["salary_revenue"])
    if resident.age(reference) >= 65:
        income["pension_revenue"] = rng.randrange(600_000, 2_400_000, 1000)
        income["pension"] = _pension_income(income["pension_revenue"])
    total = income.get("salary", 0) + income.get("pension", 0)
    income["total"] = total
    dependants = _tax_dependants(resident, jobs, reference) if total else {}
    deductions = {
        "social_insurance": income.get("salary_revenue", 0) * 15 // 100,
        "basic": 430_000,
    }
    if dependants.get("spouse"):
        deductions["spouse"] = 330_000
    general, specified = dependants.get("general", 0), dependants.get("specified", 0)
    if general or specified:
        deductions["dependents"] = 330_000 * general + 450_000 * specified
    deductions["total"] = sum(deductions.values())
    taxable_income = max(total - deductions["total"], 0) // 1000 * 1000
    people = 1 + sum(int(v) for v in dependants.values())
    exempt_limit = 450_000 if people == 1 else 350_000 * people + 310_000
    if total <= exempt_limit:
        status, municipal, prefectural = "非課税", 0, 0
    else:
        status = "課税" if taxable_income else "均等割のみ課税"
        municipal = taxable_income * 6 // 100 // 100 * 100 + 3_000
        prefectural = taxable_income * 4 // 100 // 100 * 100 + 1_000
    tax = {"municipal": municipal, "prefectural": prefectural, "total": municipal + prefectural}
    record: dict[str, Any] = {
        "fiscal_year": FISCAL_YEAR,
        "income_year": FISCAL_YEAR - 1,
        "taxable": status,
        "income": income,
        "deductions": deductions,
        "taxable_income": taxable_income,
        "tax": tax,
    }
    if dependants:
        record["dependents"] = dependants
    if tax["total"]:
        method = "特別徴収" if job else ("年金特別徴収" if "pension" in income else "普通徴収")
        arrears = tax["total"] // 4 if method == "普通徴収" and rng.random() < 0.1 else 0
        record["payment"] = {"method": method, "paid": tax["total"] - arrears, "arrears": arrears}
    return record


def _tax_dependants(
    resident: Resident, jobs: dict[str, Job | None], reference: date
) -> dict[str, Any]:
    """Dependants the household's main earner claims (only the head claims them here)."""
    if resident.person.relationship is not Relationship.HEAD:
        return {}
    found: dict[str, Any] = {}
    year_end = date(reference.year - 1, 12, 31)
    for member_id, member in resident.members:
        if member_id == resident.id or jobs.get(member_id) is not None:
            continue
        age = year_end.year - member.birth_date.year
        if member.relationship is Relationship.SPOUSE and age < 65:
            found["spouse"] = True
        elif member.relationship is Relationship.CHILD:
            key = "under_16" if age < 16 else ("specified" if 19 <= age <= 22 else "general")
            found[key] = found.get(key, 0) + 1
    return found


def kokuho(seed: int, resident: Resident, acquired: date, reference: date) -> dict[str, Any]:
    rng = _rng(seed, "kokuho", resident.household_id)
    age = resident.age(reference)
    branch = [i for i, _ in resident.members].index(resident.id) + 1
    return {
        "insurer_number": resident.code,
        "symbol": f"{rng.randint(1, 99):02d}",
        "number": f"{rng.randrange(10**6):06d}",
        "branch": f"{branch:02d}",
        "head_of_household": _name(resident.head),
        "acquired_on": acquired.isoformat(),
        "acquisition_reason": "出生" if acquired == resident.person.birth_date else "転入",
        "copayment_rate": 20 if age < 6 or age >= 70 else 30,
        "status": "資格取得",
    }


def kenpo(
    seed: int, resident: Resident, job: Job, member_of: str | None, since: date
) -> dict[str, Any]:
    """協会けんぽ, 都道府県支部 of the employer's office (numbers are demo numbers)."""
    rng = _rng(seed, "kenpo", job.employer_id)
    address = job.employer.address
    municipality = master.get_municipality(str(address.municipality_code if address else "131130"))
    prefecture = municipality.prefecture
    branch = f"{[i for i, _ in resident.members].index(resident.id):02d}" if member_of else "00"
    serial = _rng(seed, "kenpo-number", member_of or resident.id).randrange(1, 9999)
    return {
        "insurer_number": f"01{prefecture.code[:2]}0016",
        "insurer_name": f"全国健康保険協会 {_branch_name(prefecture.name)}支部",
        "symbol": f"{rng.randrange(10**7, 10**8)}",
        "number": str(serial),
        "branch": branch,
        "member_type": "被扶養者" if member_of else "被保険者",
        "employer": {
            "name": job.employer.name_ja,
            "corporate_number": str(job.employer.corporate_number),
        },
        "acquired_on": since.isoformat(),
        "status": "資格取得",
    }


def _branch_name(prefecture: str) -> str:
    """協会けんぽ's branches are named after the prefecture without 都/府/県 (北海道 stays)."""
    return prefecture[:-1] if prefecture[-1] in "都府県" else prefecture


def kaigo(seed: int, resident: Resident, reference: date) -> dict[str, Any] | None:
    """Care-need certification of some residents of 65 and over (more of the oldest)."""
    age = resident.age(reference)
    rng = _rng(seed, "kaigo", resident.id)
    chance = 0.0 if age < 65 else 0.05 if age < 75 else 0.2 if age < 85 else 0.5
    if rng.random() >= chance:
        return None
    applied = _day(rng, reference - timedelta(days=700), reference - timedelta(days=60))
    certified = applied + timedelta(days=rng.randint(25, 40))
    months = rng.choice((12, 24, 36))
    end_year, end_month = divmod(certified.month - 1 + months, 12)
    until = date(certified.year + end_year, end_month + 1, 1) - timedelta(days=1)
    return {
        "insurer_number": resident.code,
        "insured_number": f"{rng.randrange(10**9, 10**10)}",
        "insured_category": "第1号被保険者",
        "care_level": rng.choices(
            ("要支援1", "要支援2", "要介護1", "要介護2", "要介護3", "要介護4", "要介護5"),
            (14, 14, 21, 17, 13, 12, 9),
        )[0],
        "applied_on": applied.isoformat(),
        "certified_on": certified.isoformat(),
        "period": {"from": certified.replace(day=1).isoformat(), "to": until.isoformat()},
        "care_manager_office": rng.choice(CARE_OFFICES),
    }


def jidou_teate(seed: int, resident: Resident, reference: date) -> dict[str, Any] | None:
    """Child allowance to the head for children up to the March after their 18th birthday
    (令和6年10月以降: 3歳未満 15,000円, 第3子以降 30,000円, それ以外 10,000円)."""
    if resident.person.relationship is not Relationship.HEAD:
        return None
    children = sorted(_members(resident, Relationship.CHILD), key=lambda item: item[1].birth_date)
    oldest_eligible = date(reference.year - 18, 4, 2)
    eligible = [(i, c) for i, c in children if c.birth_date >= oldest_eligible]
    if not eligible:
        return None
    counted = [c for _, c in children if c.birth_date >= date(reference.year - 22, 4, 2)]
    amount = 0
    for _, child in eligible:
        order = counted.index(child) + 1
        under_three = child.birth_date > date(reference.year - 3, reference.month, reference.day)
        amount += 30_000 if order >= 3 else 15_000 if under_three else 10_000
    rng = _rng(seed, "jidou-teate", resident.id)
    start = max(eligible[0][1].birth_date, household_since(seed, resident, reference))
    return {
        "recipient_number": f"{rng.randrange(10**6, 10**7)}",
        "certified_on": (start + timedelta(days=rng.randint(7, 20))).isoformat(),
        "children": [
            {
                "name": _name(c),
                "person_id": i,
                "birth_date": c.birth_date.isoformat(),
                "cohabiting": True,
            }
            for i, c in eligible
        ],
        "monthly_amount": amount,
        "status": "支給中",
    }


def risai(seed: int, resident: Resident) -> dict[str, Any] | None:
    """Damage certificates for some households of the town the demo disaster hit."""
    if resident.code != DISASTER_MUNICIPALITY or resident.person.relationship is not (
        Relationship.HEAD
    ):
        return None
    rng = _rng(seed, "risai", resident.household_id)
    if rng.random() >= 0.25:
        return None
    inspected = date(2024, 9, 27) + timedelta(days=rng.randint(0, 20))
    return {
        "certificate_number": f"R6-{rng.randrange(1, 10000):04d}",
        "disaster": DISASTER,
        "dwelling_address": _address_text(resident.address),
        "dwelling_relation": rng.choices(("所有者兼居住者", "居住者（賃借）"), (4, 1))[0],
        "damage_level": rng.choices(
            ("全壊", "大規模半壊", "中規模半壊", "半壊", "準半壊", "準半壊に至らない（一部損壊）"),
            (3, 4, 6, 10, 15, 30),
        )[0],
        "inspected_on": inspected.isoformat(),
        "issued_on": (inspected + timedelta(days=rng.randint(3, 14))).isoformat(),
    }


def vehicle(seed: int, resident: Resident, reference: date) -> tuple[str, dict[str, Any]] | None:
    """A car of a head or spouse: most households outside Tokyo have one, few in Shibuya."""
    if resident.person.relationship not in (Relationship.HEAD, Relationship.SPOUSE):
        return None
    if not 18 <= resident.age(reference) <= 84:
        return None
    rng = _rng(seed, "vehicle", resident.id)
    urban = resident.code == "131130"
    chance = (
        (0.2 if urban else 0.8)
        if resident.person.relationship is Relationship.HEAD
        else (0.02 if urban else 0.4)
    )
    if rng.random() >= chance:
        return None
    make = rng.choice(MAKES)
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
    model = f"{rng.choice(('5BA', '6BA', '6AA', '3BA'))}-{letters}{rng.randint(10, 99)}"
    registered = _day(rng, reference - timedelta(days=15 * 365), reference - timedelta(days=60))
    address = _address_text(resident.address)
    owner = {"name": _name(resident.person), "address": address, "person_id": resident.id}
    number = f"{rng.randint(1, 99)}-{rng.randint(0, 99):02d}"
    plate = f"{PLATE_REGIONS.get(resident.code, '品川')} {rng.choice((300, 330, 500, 530))} "
    record = {
        "registration_number": plate + f"{rng.choice(PLATE_KANA)} {number}",
        "chassis_number": f"{letters}{rng.randint(10, 99)}-{rng.randrange(10**6, 10**7)}",
        "make": make,
        "model": model,
        "use": "乗用",
        "first_registered": registered.strftime("%Y-%m"),
        "owner": owner,
        "user": {"name": owner["name"], "address": address, "base": address},
        "inspection_expires_on": (reference + timedelta(days=rng.randint(30, 730))).isoformat(),
        "status": "登録",
    }
    return str(uuid.uuid5(NAMESPACE, f"{seed}:vehicle:{resident.id}")), record


# 全銀協 codes of banks with branches everywhere (ゆうちょ銀行 uses another numbering, left out).
BANK_CODES = ("0001", "0005", "0009", "0010", "0017")


def koukin_kouza(seed: int, resident: Resident, reference: date) -> dict[str, Any] | None:
    """The account for public benefits: every head receiving child allowance, most adults."""
    if resident.age(reference) < 18:
        return None
    rng = _rng(seed, "koukin-kouza", resident.id)
    if jidou_teate(seed, resident, reference) is None and rng.random() >= 0.6:
        return None
    person = resident.person
    registered = _day(rng, date(2022, 3, 28), reference - timedelta(days=30))
    return {
        "bank_code": rng.choice(BANK_CODES),
        "branch_code": f"{rng.randrange(1, 1000):03d}",
        "type": "普通",
        "number": f"{rng.randrange(10**6, 10**7):07d}",
        "holder_kana": f"{person.family_name_kana} {person.given_name_kana}",
        "registered_on": registered.isoformat(),
    }


PURPOSES = {
    "水産": "水産物の漁獲、養殖、加工及び販売",
    "農林": "農産物の生産、加工及び販売",
    "鉱業": "鉱物の採掘及び販売",
    "建設": "土木工事及び建築工事の請負",
    "食品": "食料品の製造、加工及び販売",
    "印刷": "印刷及び製本業",
    "電気": "電気機械器具の製造及び販売",
    "ガス": "ガスの供給及びガス器具の販売",
    "情報": "ソフトウェアの開発、販売及び情報処理サービス",
    "通信": "電気通信事業",
    "運輸": "一般貨物自動車運送事業",
    "銀行": "金融商品仲介業",
    "保険": "損害保険代理業及び生命保険の募集に関する業務",
}


def houjin(
    seed: int, corporation_id: str, corporation: OrganizationIn, residents: Sequence[Resident],
    reference: date,
) -> tuple[date, dict[str, Any]]:  # fmt: skip
    """The commercial register entry of a demo company; its representative is a resident."""
    rng = _rng(seed, "houjin", corporation_id)
    number = str(corporation.corporate_number)
    name = corporation.name_ja
    form = next(f for f in ("株式会社", "有限会社", "合同会社") if f in name)
    latest = date(2006, 4, 30) if form == "有限会社" else date(2020, 12, 31)
    established = _day(rng, date(1965, 1, 1) if form != "合同会社" else date(2006, 5, 1), latest)
    candidates = [r for r in residents if 35 <= r.age(reference) <= 75]
    representative = candidates[rng.randrange(len(candidates))] if candidates else None
    purpose = next((v for k, v in PURPOSES.items() if k in name), "経営コンサルティング業")
    address = corporation.address
    record: dict[str, Any] = {
        "corporate_number": number,
        "registration_number": number[1:],
        "trade_name": name,
        "trade_name_kana": corporation.name_kana,
        # A 特例有限会社 is a 株式会社 under the Companies Act (整備法 第2条).
        "corporation_type": "合同会社" if form == "合同会社" else "株式会社",
        "head_office": {
            **({"postal_code": address.postal_code} if address and address.postal_code else {}),
            "municipality_code": str(address.municipality_code if address else ""),
            "text": _address_text(address) if address else "",
        },
        "purposes": [purpose, "前号に附帯関連する一切の事業"],
        "capital": {"有限会社": 3_000_000, "合同会社": rng.choice((1_000_000, 3_000_000))}.get(
            form, rng.choice((3_000_000, 10_000_000, 50_000_000))
        ),
        "representatives": [
            {
                "title": "代表社員" if form == "合同会社" else "代表取締役",
                "name": _name(representative.person) if representative else "代表 太郎",
                **({"address": _address_text(representative.address)} if representative else {}),
            }
        ],
        "established_on": established.isoformat(),
        "status": "存続",
    }
    return established, record


# --- loading ---------------------------------------------------------------------------------


def _ensure_agencies(session: Session, actor: str) -> dict[str, str]:
    """The keepers outside the municipalities, by registry id (created when missing)."""
    keepers = {}
    for registry_id, agency in AGENCIES.items():
        number = str(agency.corporate_number)
        found = identity.find_organization(session, corporate_number=number)
        if found is None:  # e.g. デジタル庁 is usually there already, seeded as the ministry
            agency_id = identity.party_id("corporate", number)
            found = identity.create_organization(session, agency, actor=actor, id=agency_id)
        keepers[registry_id] = found.id
    return keepers


def _dated(value: str) -> date:
    return date.fromisoformat(value)


def plan_registers(
    seed: int,
    reference: date,
    residents: Sequence[Resident],
    corporations: Sequence[tuple[str, OrganizationIn]],
    keepers: dict[str, str],
) -> Iterator[tuple[str, InitialRecord]]:
    """Every record of every register, as (registry id, record); ``keepers`` maps municipality
    codes and the agencies' registry ids to organization ids."""
    jobs = {r.id: job_of(seed, r, corporations, reference) for r in residents}
    for resident in residents:
        municipality = keepers[resident.code]
        became, record = juki(seed, resident, reference)
        yield "juki", InitialRecord(resident.id, municipality, record, became)
        yield (
            "koseki",
            InitialRecord(
                resident.id, municipality, koseki(seed, resident), resident.person.birth_date
            ),
        )
        tax = kazei(seed, resident, jobs, reference)
        if tax is not None:
            yield "kazei", InitialRecord(resident.id, municipality, tax, ASSESSED_ON)
        yield from _work_and_insurance(seed, resident, jobs, keepers, became, reference)
        care = kaigo(seed, resident, reference)
        if care is not None:
            start = _dated(care["period"]["from"])
            yield "kaigo", InitialRecord(resident.id, municipality, care, start)
        allowance = jidou_teate(seed, resident, reference)
        if allowance is not None:
            start = _dated(allowance["certified_on"])
            yield "jidou_teate", InitialRecord(resident.id, municipality, allowance, start)
        account = koukin_kouza(seed, resident, reference)
        if account is not None:
            start = _dated(account["registered_on"])
            yield (
                "koukin_kouza",
                InitialRecord(resident.id, keepers["koukin_kouza"], account, start),
            )
        damage = risai(seed, resident)
        if damage is not None:
            start = _dated(damage["issued_on"])
            yield "risai", InitialRecord(resident.id, municipality, damage, start)
        car = vehicle(seed, resident, reference)
        if car is not None:
            vehicle_id, data = car
            start = _dated(data["first_registered"] + "-01")
            yield "jidosha", InitialRecord(vehicle_id, keepers["jidosha"], data, start)
    for corporation_id, corporation in corporations:
        established, data = houjin(seed, corporation_id, corporation, residents, reference)
        yield "houjin", InitialRecord(corporation_id, keepers["houjin"], data, established)


def _work_and_insurance(
    seed: int, resident: Resident, jobs: dict[str, Job | None], keepers: dict[str, str],
    became: date, reference: date,
) -> Iterator[tuple[str, InitialRecord]]:  # fmt: skip
    job = jobs[resident.id]
    if job is not None:
        data = shuro(seed, resident, job, reference)
        yield "shuro", InitialRecord(resident.id, job.employer_id, data, job.since)
    scheme, member_of = insurance_of(resident, jobs, reference)
    if scheme == "kenpo":
        earner = jobs[member_of] if member_of else job
        assert earner is not None
        since = max(earner.since, resident.person.birth_date)
        data = kenpo(seed, resident, earner, member_of, since)
        yield "kenpo", InitialRecord(resident.id, keepers["kenpo"], data, since)
    elif scheme == "kokuho":
        data = kokuho(seed, resident, became, reference)
        yield "kokuho", InitialRecord(resident.id, keepers[resident.code], data, became)


class World(Protocol):
    """What the registers are filled from (the demo seed's planned world)."""

    @property
    def persons(self) -> Sequence[tuple[str, PersonIn]]: ...

    @property
    def households(self) -> Sequence[tuple[str, HouseholdIn]]: ...

    @property
    def corporations(self) -> Sequence[tuple[str, OrganizationIn]]: ...


def seed_registers(
    session: Session,
    *,
    seed: int,
    reference: date,
    world: World,
    municipalities: dict[str, str],
    actor: str,
) -> dict[str, int]:
    """Fill every base registry from the world; returns the records each register holds.

    ``municipalities`` maps 地方公共団体コード to organization ids. Subjects that
    already have a record in a registry are left alone, so seeding twice
    writes nothing.
    """
    keepers = {**municipalities, **_ensure_agencies(session, actor)}
    residents = residents_of(world.persons, world.households)
    corporations = world.corporations
    planned: dict[str, list[InitialRecord]] = {}
    for registry_id, record in plan_registers(seed, reference, residents, corporations, keepers):
        planned.setdefault(registry_id, []).append(record)
    counts = {}
    for registry_id, records in sorted(planned.items()):
        present = service.subjects_with_records(session, registry_id, _subjects(records))
        missing = [r for r in records if r.subject_id not in present]
        if missing:
            service.bulk_load(session, registry_id, missing, actor=actor)
        counts[registry_id] = len(records)
    return counts


def _subjects(records: Iterable[InitialRecord]) -> list[str]:
    return [r.subject_id for r in records]
