"""Organizations, persons, households and officials: creating, validating, finding.

Every other module reaches parties through these functions and the records
they return (``schemas.*Record`` / ``*Public``), never through the tables.
Input is normalised as people type it (全角 digits, hiragana or half-width
readings) and rejected with a :class:`FieldError` whose Japanese and English
messages name the field. Each creation writes an audit record in the same
transaction; audit data never carries a 個人番号 or a person's name.

Bulk functions (``create_households``, ``create_persons``) validate every
item first and then insert in batches, so importing a resident register of
100,000 people is a few seconds of work; the single-item functions are the
same code with a list of one.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from tsunagu.core import ids
from tsunagu.core.audit import service as audit
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.db import DriverQuery, transaction_memo
from tsunagu.core.errors import ConflictError, NotFoundError, ValidationError
from tsunagu.identity import municipalities as master
from tsunagu.identity.models import (
    Household,
    Official,
    OfficialRoleGrant,
    Organization,
    OrganizationUnit,
    Person,
)
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import (
    Address,
    AddressIn,
    HouseholdIn,
    HouseholdRecord,
    OfficialIn,
    OfficialRecord,
    OfficialRole,
    OrganizationDetail,
    OrganizationIn,
    OrganizationKind,
    OrganizationPublic,
    PersonIn,
    PersonRecord,
    Relationship,
    Sex,
    UnitIn,
    UnitPublic,
)

# Namespace of the ids derived from public numbers (uuid5), so the same
# municipality or corporation gets the same id in every installation.
PARTY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:tsunagu:identity:party")
BATCH = 1000
EARLIEST_BIRTH = date(1880, 1, 1)

FIELD_LABELS: dict[str, str] = {
    "kind": "種別",
    "name_ja": "名称",
    "name_kana": "名称（フリガナ）",
    "name_en": "英語名称",
    "lgcode": "地方公共団体コード",
    "corporate_number": "法人番号",
    "parent_id": "上位組織",
    "code": "部署コード",
    "family_name": "氏",
    "given_name": "名",
    "family_name_kana": "氏（フリガナ）",
    "given_name_kana": "名（フリガナ）",
    "former_family_name": "旧氏",
    "former_family_name_kana": "旧氏（フリガナ）",
    "birth_date": "生年月日",
    "household_id": "世帯",
    "relationship": "続柄",
    "mynumber": "個人番号",
    "organization_id": "組織",
    "unit_id": "部署",
    "person_id": "人",
    "display_name": "表示名",
    "login_name": "ログイン名",
    "title": "役職",
    "address": "住所",
    "address.postal_code": "郵便番号",
    "address.prefecture": "都道府県",
    "address.municipality_code": "市区町村コード",
    "address.municipality": "市区町村",
    "address.town": "町域",
    "address.block": "丁目・番地",
    "address.building": "建物名",
}


class FieldError(ValidationError):
    """A validation error about one field; ``field`` is its name in the input."""

    def __init__(self, field: str, code: str, reason_ja: str, reason_en: str) -> None:
        label = FIELD_LABELS.get(field.rsplit("]", 1)[-1].lstrip("."), field)
        super().__init__(code, f"{label}[{field}]: {reason_ja}", f"{field}: {reason_en}")
        self.field = field
        self.reason_ja = reason_ja
        self.reason_en = reason_en

    def within(self, collection: str, index: int) -> FieldError:
        """The same error, naming the item of a batch it is about (``persons[12].given_name``)."""
        return FieldError(
            f"{collection}[{index}].{self.field}", self.code, self.reason_ja, self.reason_en
        )


def _invalid_number(field: str, check: ids.Check) -> FieldError:
    return FieldError(
        field, f"invalid_{field.rsplit('.', 1)[-1]}", check.reason_ja, check.reason_en
    )


def party_id(kind: str, number: str) -> str:
    """The id of a party known by a public number (``lgcode`` or ``corporate``)."""
    return str(uuid.uuid5(PARTY_NAMESPACE, f"{kind}:{number}"))


# --- normalisation -------------------------------------------------------------------------

_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(0x3041, 0x3097)}
_KATAKANA = re.compile(r"^[\u30A1-\u30FA\u30FB\u30FC\u30FD\u30FE\u3000]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LOGIN_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,99}$")


def _text(value: str | None, field: str, max_length: int, *, required: bool = True) -> str | None:
    """Trimmed text; names are not NFKC-folded, which would change characters like 﨑."""
    text = (value or "").strip()
    if not text:
        if required:
            raise FieldError(field, "required", "入力してください", "is required")
        return None
    if _CONTROL.search(text):
        raise FieldError(
            field,
            "control_character",
            "制御文字は使えません",
            "must not contain control characters",
        )
    if len(text) > max_length:
        raise FieldError(
            field,
            "too_long",
            f"{max_length}文字以内で入力してください",
            f"must be at most {max_length} characters",
        )
    return text


def normalize_kana(value: str) -> str:
    """Full-width katakana from hiragana or half-width kana; blanks become one 全角 space."""
    folded = unicodedata.normalize("NFKC", value).translate(_HIRAGANA_TO_KATAKANA)
    return "\u3000".join(folded.split())


def _kana(value: str | None, field: str, max_length: int, *, required: bool = True) -> str | None:
    text = _text(value, field, max_length * 2, required=required)
    if text is None:
        return None
    kana = normalize_kana(text)
    if not _KATAKANA.match(kana):
        raise FieldError(
            field,
            "not_kana",
            "カタカナ（またはひらがな）で入力してください",
            "must be written in katakana (or hiragana)",
        )
    if len(kana) > max_length:
        raise FieldError(
            field,
            "too_long",
            f"{max_length}文字以内で入力してください",
            f"must be at most {max_length} characters",
        )
    return kana


def _lgcode(value: str, field: str) -> str:
    check = ids.check(ids.IdKind.LGCODE, value)
    if not check.valid:
        raise _invalid_number(field, check)
    return check.normalized


def _corporate_number(value: str, field: str = "corporate_number") -> str:
    check = ids.check(ids.IdKind.CORPORATE, value)
    if not check.valid:
        raise _invalid_number(field, check)
    return check.normalized


def _postal_code(value: str, field: str) -> str:
    try:
        return master.normalize_postal_code(value, field)
    except ValidationError as exc:
        raise FieldError(
            field, exc.code, "7桁の数字で入力してください", "must have 7 digits"
        ) from exc


ADDRESS_COLUMNS = (
    "postal_code",
    "prefecture",
    "municipality_code",
    "municipality",
    "town",
    "block",
    "building",
)


def _address_columns(
    address: AddressIn | None, field: str = "address", *, municipality_required: bool = False
) -> dict[str, str | None]:
    """Validated ``address_*`` column values; names are filled in from the master list."""
    values: dict[str, str | None] = dict.fromkeys(ADDRESS_COLUMNS)
    address = address or AddressIn()
    prefecture = _text(address.prefecture, f"{field}.prefecture", 10, required=False)
    municipality_name = _text(address.municipality, f"{field}.municipality", 50, required=False)
    if address.municipality_code:
        values.update(
            _municipality_fields(address.municipality_code, prefecture, municipality_name, field)
        )
    elif municipality_required:
        raise FieldError(
            f"{field}.municipality_code", "required", "入力してください", "is required"
        )
    else:
        if prefecture and prefecture not in {p.name for p in master.prefectures()}:
            raise FieldError(
                f"{field}.prefecture",
                "unknown_prefecture",
                "都道府県名が正しくありません",
                "is not a prefecture of Japan",
            )
        values.update(prefecture=prefecture, municipality=municipality_name)
    if address.postal_code:
        values["postal_code"] = _checked_postal_code(
            address.postal_code, values["municipality_code"], f"{field}.postal_code"
        )
    values["town"] = _text(address.town, f"{field}.town", 200, required=False)
    values["block"] = _text(address.block, f"{field}.block", 100, required=False)
    values["building"] = _text(address.building, f"{field}.building", 200, required=False)
    return {f"address_{k}": v for k, v in values.items()}


def _municipality_fields(
    raw_code: str, prefecture: str | None, name: str | None, field: str
) -> dict[str, str | None]:
    code = _lgcode(raw_code, f"{field}.municipality_code")
    municipality = master.find_municipality(code)
    if municipality is None:
        raise FieldError(
            f"{field}.municipality_code",
            "unknown_municipality",
            "日本郵便の市区町村一覧にないコードです",
            "is not a municipality in Japan Post's list",
        )
    if prefecture and prefecture != municipality.prefecture.name:
        raise FieldError(
            f"{field}.prefecture",
            "prefecture_mismatch",
            f"市区町村コードの都道府県（{municipality.prefecture.name}）と一致しません",
            f"does not match the municipality's prefecture ({municipality.prefecture.name})",
        )
    if name and name not in (municipality.name, municipality.short_name):
        raise FieldError(
            f"{field}.municipality",
            "municipality_mismatch",
            f"市区町村コードの名称（{municipality.name}）と一致しません",
            f"does not match the municipality code ({municipality.name})",
        )
    return {
        "municipality_code": code,
        "prefecture": municipality.prefecture.name,
        "municipality": municipality.name,
    }


def _checked_postal_code(raw: str, municipality_code: str | None, field: str) -> str:
    postal = _postal_code(raw, field)
    served = master.postal_code_municipalities(postal)
    if served is None:
        raise FieldError(
            field,
            "unknown_postal_code",
            "日本郵便のデータにない郵便番号です",
            "is not a postal code in Japan Post's data",
        )
    if municipality_code and municipality_code not in served:
        raise FieldError(
            field,
            "postal_code_mismatch",
            "市区町村と一致しない郵便番号です",
            "belongs to another municipality",
        )
    return postal


def _address_of(row: Any) -> Address | None:
    values = {k: getattr(row, f"address_{k}") for k in ADDRESS_COLUMNS}
    return Address(**values) if any(values.values()) else None


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _table(model: type[Household | Person]) -> Table:
    """The model's table: bulk rows go to it directly, one executemany per batch, because ORM
    bulk inserts split a batch wherever the pattern of NULL columns changes."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _existing(session: Session, column: Any, values: Iterable[Any]) -> set[Any]:
    """Which of ``values`` already occur in ``column`` (queried in batches)."""
    wanted = sorted(set(values))
    found: set[Any] = set()
    for chunk in _chunks(wanted):
        found.update(session.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def _new_ids(count: int, given: Sequence[str] | None) -> list[str]:
    if given is None:
        return [str(uuid.uuid4()) for _ in range(count)]
    if len(given) != count:
        raise ValueError("one id per item")
    return [str(uuid.UUID(str(value))) for value in given]


# --- organizations -------------------------------------------------------------------------

LOCAL_GOVERNMENTS = (OrganizationKind.MUNICIPALITY, OrganizationKind.PREFECTURE)


def _organization_numbers(data: OrganizationIn) -> tuple[str | None, str | None]:
    kind = OrganizationKind(data.kind)
    lgcode = _lgcode(data.lgcode, "lgcode") if data.lgcode else None
    corporate = _corporate_number(data.corporate_number) if data.corporate_number else None
    if kind in LOCAL_GOVERNMENTS:
        if lgcode is None:
            raise FieldError(
                "lgcode",
                "required",
                "地方公共団体には必要です",
                "is required for a local government",
            )
        is_prefecture = master.find_prefecture(lgcode) is not None
        if is_prefecture != (kind is OrganizationKind.PREFECTURE):
            raise FieldError(
                "lgcode",
                "lgcode_kind_mismatch",
                "都道府県と市区町村のコードを取り違えています",
                "a prefecture needs a prefecture code, a municipality a municipality code",
            )
        if not is_prefecture and master.find_municipality(lgcode) is None:
            raise FieldError(
                "lgcode",
                "unknown_municipality",
                "日本郵便の市区町村一覧にないコードです",
                "is not a municipality in Japan Post's list",
            )
    elif lgcode is not None:
        raise FieldError(
            "lgcode",
            "not_local_government",
            "地方公共団体以外には指定できません",
            "only local governments have one",
        )
    if kind is OrganizationKind.CORPORATION and corporate is None:
        raise FieldError(
            "corporate_number", "required", "法人には必要です", "is required for a corporation"
        )
    return lgcode, corporate


def _organization_public(org: Any) -> OrganizationPublic:
    """From an ``Organization`` or a row of its table (attributes by column name)."""
    return OrganizationPublic(
        id=org.id,
        kind=OrganizationKind(org.kind),
        name_ja=org.name_ja,
        name_kana=org.name_kana,
        name_en=org.name_en,
        lgcode=org.lgcode,
        corporate_number=org.corporate_number,
        parent_id=org.parent_id,
        address=_address_of(org),
        demo=org.demo,
    )


def create_organization(
    session: Session, data: OrganizationIn, *, actor: str, id: str | None = None
) -> OrganizationPublic:
    """Register an organization; its 地方公共団体コード / 法人番号 must be valid and unused."""
    lgcode, corporate = _organization_numbers(data)
    row: dict[str, Any] = {
        "id": _new_ids(1, [id] if id else None)[0],
        "kind": OrganizationKind(data.kind).value,
        "name_ja": _text(data.name_ja, "name_ja", 200),
        "name_kana": _kana(data.name_kana, "name_kana", 400),
        "name_en": _text(data.name_en, "name_en", 200, required=False),
        "lgcode": lgcode,
        "corporate_number": corporate,
        "parent_id": data.parent_id,
        "demo": data.demo,
        "created_at": utcnow(),
        **_address_columns(data.address),
    }
    if data.parent_id and session.get(Organization, data.parent_id) is None:
        raise FieldError(
            "parent_id", "unknown_parent", "上位組織が見つかりません", "no organization has this id"
        )
    for column, value in (("lgcode", lgcode), ("corporate_number", corporate)):
        if value and _existing(session, getattr(Organization, column), [value]):
            raise ConflictError(
                f"duplicate_{column}",
                f"{FIELD_LABELS[column]} {value} の組織は既に登録されています",
                f"an organization with {column} {value} is already registered",
            )
    session.execute(insert(Organization), [row])
    audit.record(
        session,
        actor=actor,
        action="identity.organization.created",
        object_type="organization",
        object_id=row["id"],
        data={
            "kind": row["kind"],
            "name_ja": row["name_ja"],
            "lgcode": lgcode,
            "corporate_number": corporate,
            "demo": data.demo,
        },
    )
    return get_organization(session, row["id"])


_ORGANIZATION = DriverQuery(
    select(Organization.__table__).where(Organization.id == bindparam("organization"))
)
# Per transaction: organization id → its public facts.
_ORGANIZATIONS_READ = "identity.organizations"


def get_organization(session: Session, organization_id: str) -> OrganizationPublic:
    """An organization's public facts, read once per transaction.

    A submission asks 3–4 times (its owner, the exchange's requester, the register's keeper).
    Organizations are written only by ``create_organization``, with a statement rather than
    the ORM, and never changed, so the read needs no flush and no ORM object.
    """
    known: dict[str, OrganizationPublic] = transaction_memo(session, _ORGANIZATIONS_READ)
    org = known.get(organization_id)
    if org is None:
        rows = _ORGANIZATION.rows(session.connection(), {"organization": organization_id})
        if not rows:
            raise NotFoundError(
                "organization_not_found",
                "組織が見つかりません",
                f"no organization has the id {organization_id}",
            )
        org = known[organization_id] = _organization_public(rows[0])
    return org


def organization_detail(session: Session, organization_id: str) -> OrganizationDetail:
    """An organization with its units (public facts only)."""
    org = get_organization(session, organization_id)
    return OrganizationDetail(**org.model_dump(), units=list_units(session, organization_id))


def find_organization(
    session: Session, *, lgcode: str | None = None, corporate_number: str | None = None
) -> OrganizationPublic | None:
    """The organization with this 地方公共団体コード or 法人番号 (全角 accepted), if registered."""
    if (lgcode is None) == (corporate_number is None):
        raise ValueError("give exactly one of lgcode and corporate_number")
    condition: ColumnElement[bool] = (
        Organization.lgcode == _lgcode(lgcode, "lgcode")
        if lgcode is not None
        else Organization.corporate_number == _corporate_number(corporate_number or "")
    )
    org = session.execute(select(Organization).where(condition)).scalar_one_or_none()
    return _organization_public(org) if org else None


def _organization_filter(
    kind: OrganizationKind | None, parent_id: str | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if kind is not None:
        conditions.append(Organization.kind == OrganizationKind(kind).value)
    if parent_id is not None:
        conditions.append(Organization.parent_id == parent_id)
    return conditions


def list_organizations(
    session: Session,
    *,
    kind: OrganizationKind | None = None,
    parent_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OrganizationPublic]:
    """Organizations by kind and reading (五十音順), optionally of one kind or parent."""
    query = (
        select(Organization)
        .where(*_organization_filter(kind, parent_id))
        .order_by(Organization.kind, Organization.name_kana, Organization.id)
        .limit(limit)
        .offset(offset)
    )
    return [_organization_public(o) for o in session.execute(query).scalars()]


def count_organizations(
    session: Session, *, kind: OrganizationKind | None = None, parent_id: str | None = None
) -> int:
    query = select(func.count()).select_from(Organization)
    return int(session.execute(query.where(*_organization_filter(kind, parent_id))).scalar_one())


def ensure_local_government(session: Session, lgcode: str, *, actor: str) -> OrganizationPublic:
    """The organization of a prefecture or municipality, registered from the master if missing.

    Names and readings come from Japan Post's data, the 法人番号 from the
    local-government rule, the parent is the prefecture (or, for a ward of a
    designated city, the city), and the id is derived from the code.
    """
    code = _lgcode(lgcode, "lgcode")
    existing = find_organization(session, lgcode=code)
    if existing is not None:
        return existing
    prefecture = master.find_prefecture(code)
    if prefecture is not None:
        data = OrganizationIn(
            kind=OrganizationKind.PREFECTURE,
            name_ja=prefecture.name,
            name_kana=prefecture.name_kana,
            lgcode=code,
            corporate_number=master.local_government_corporate_number(code),
        )
    else:
        municipality = master.find_municipality(code)
        if municipality is None:
            raise FieldError(
                "lgcode",
                "unknown_municipality",
                "日本郵便の市区町村一覧にないコードです",
                "is not a municipality in Japan Post's list",
            )
        parent = ensure_local_government(
            session, municipality.parent_code or municipality.prefecture.code, actor=actor
        )
        data = OrganizationIn(
            kind=OrganizationKind.MUNICIPALITY,
            name_ja=municipality.short_name,
            name_kana=municipality.short_name_kana,
            lgcode=code,
            corporate_number=master.local_government_corporate_number(code),
            parent_id=parent.id,
        )
    return create_organization(session, data, actor=actor, id=party_id("lgcode", code))


# --- organization units --------------------------------------------------------------------


def create_unit(
    session: Session, organization_id: str, data: UnitIn, *, actor: str, id: str | None = None
) -> UnitPublic:
    """Add a department (部署) to an organization; its code is unique within the organization."""
    get_organization(session, organization_id)
    code = _text(data.code, "code", 50)
    if data.parent_id:
        parent = session.get(OrganizationUnit, data.parent_id)
        if parent is None or parent.organization_id != organization_id:
            raise FieldError(
                "parent_id",
                "unknown_parent",
                "同じ組織の部署を指定してください",
                "must be a unit of the same organization",
            )
    clash = session.execute(
        select(OrganizationUnit.id).where(
            OrganizationUnit.organization_id == organization_id, OrganizationUnit.code == code
        )
    ).first()
    if clash:
        raise ConflictError(
            "duplicate_unit_code",
            f"部署コード {code} は既に使われています",
            f"the unit code {code} is already used in this organization",
        )
    unit = OrganizationUnit(
        id=_new_ids(1, [id] if id else None)[0],
        organization_id=organization_id,
        parent_id=data.parent_id,
        code=code,
        name_ja=_text(data.name_ja, "name_ja", 200),
        name_en=_text(data.name_en, "name_en", 200, required=False),
        created_at=utcnow(),
    )
    session.add(unit)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="identity.unit.created",
        object_type="unit",
        object_id=unit.id,
        data={"code": code, "name_ja": unit.name_ja},
    )
    return UnitPublic.model_validate(unit)


def list_units(session: Session, organization_id: str) -> list[UnitPublic]:
    query = (
        select(OrganizationUnit)
        .where(OrganizationUnit.organization_id == organization_id)
        .order_by(OrganizationUnit.code)
    )
    return [UnitPublic.model_validate(u) for u in session.execute(query).scalars()]


# --- households ----------------------------------------------------------------------------


def create_households(
    session: Session,
    households: Sequence[HouseholdIn],
    *,
    actor: str,
    ids: Sequence[str] | None = None,
) -> list[str]:
    """Register households (世帯) at validated addresses; returns their ids in order."""
    new_ids = _new_ids(len(households), ids)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for index, (household_id, data) in enumerate(zip(new_ids, households, strict=True)):
        try:
            address = _address_columns(data.address, municipality_required=True)
        except FieldError as exc:
            raise (exc.within("households", index) if len(households) > 1 else exc) from exc
        rows.append({"id": household_id, "demo": data.demo, "created_at": now, **address})
    for chunk in _chunks(rows):
        session.execute(insert(_table(Household)), chunk)
    for row in rows:
        audit.record(
            session,
            actor=actor,
            action="identity.household.created",
            object_type="household",
            object_id=row["id"],
            data={"municipality_code": row["address_municipality_code"]},
        )
    return new_ids


def create_household(
    session: Session, data: HouseholdIn, *, actor: str, id: str | None = None
) -> HouseholdRecord:
    (household_id,) = create_households(session, [data], actor=actor, ids=[id] if id else None)
    return get_household(session, household_id)


def get_household(session: Session, household_id: str) -> HouseholdRecord:
    household = session.get(Household, household_id)
    if household is None:
        raise NotFoundError(
            "household_not_found", "世帯が見つかりません", f"no household has the id {household_id}"
        )
    members = session.execute(
        select(Person.id, Person.relationship)
        .where(Person.household_id == household_id)
        .order_by(Person.birth_date, Person.id)
    ).all()
    address = _address_of(household)
    assert address is not None and address.municipality_code is not None
    return HouseholdRecord(
        id=household.id,
        municipality_code=address.municipality_code,
        address=address,
        head_id=next((m.id for m in members if m.relationship == Relationship.HEAD), None),
        member_ids=[m.id for m in members],
        demo=household.demo,
    )


def _household_address(session: Session, household_id: str) -> dict[str, Any]:
    """The address columns a member takes from its household."""
    household = session.get(Household, household_id)
    assert household is not None
    return {f"address_{k}": getattr(household, f"address_{k}") for k in ADDRESS_COLUMNS}


def _check_joiners(
    session: Session, joiners: Sequence[str], relationships: Mapping[str, Relationship | None]
) -> None:
    """Who joins a household is a known person, in no household, with a 続柄 to join with."""
    if not joiners:
        return
    unplaced = [p for p in joiners if relationships.get(p) is None]
    if unplaced:
        raise ConflictError(
            "no_relationship",
            "世帯に入る人の続柄がありません",
            f"no relationship given for joining: {', '.join(unplaced)}",
        )
    rows = session.execute(
        select(Person.id, Person.household_id).where(Person.id.in_(joiners))
    ).all()
    unknown = sorted(set(joiners) - {r.id for r in rows})
    if unknown:
        raise NotFoundError(
            "person_not_found",
            "該当する人が見つかりません",
            f"no person has the id {', '.join(unknown)}",
        )
    placed = sorted(r.id for r in rows if r.household_id is not None)
    if placed:
        raise ConflictError(
            "in_a_household",
            "既に世帯に属している人が含まれています",
            f"already in a household: {', '.join(placed)}",
        )


def rearrange_household(
    session: Session,
    household_id: str,
    relationships: Mapping[str, Relationship | None],
    *,
    actor: str,
    joining: Collection[str] = (),
) -> HouseholdRecord:
    """Give members of a household a new 続柄, or (``None``) take them out of it.

    What the resident register records is followed here (after a death, a move): a
    member who died or moved away leaves the household (no household, no 続柄) but
    stays a party, because applications, notices and the audit trail still name them.
    ``joining`` persons (a move in, a birth) come in with the 続柄 given for them and
    take the household's address; they must be in no household, so leaving another
    one is its own, audited, rearrangement. A member losing the head's place is
    cleared by its own statement before anyone is made head, so the
    one-head-per-household index holds at every step.
    """
    household = get_household(session, household_id)
    joiners = sorted(set(joining))
    _check_joiners(session, joiners, relationships)
    strangers = sorted(set(relationships) - set(household.member_ids) - set(joiners))
    if strangers:
        raise ConflictError(
            "not_a_member",
            "この世帯の世帯員ではない人が含まれています",
            f"not members of household {household_id}: {', '.join(strangers)}",
        )
    staying = {p: r for p, r in relationships.items() if r is not None}
    heads = {p for p, r in staying.items() if r is Relationship.HEAD}
    if household.head_id is not None and household.head_id not in relationships:
        heads.add(household.head_id)
    if len(heads) > 1:
        raise ConflictError(
            "household_has_head",
            "この世帯には既に世帯主がいます",
            "this household already has a head",
        )
    members = Person.household_id == household_id
    if joiners:  # in without a 続柄 first: the loop below gives it, the head last
        session.execute(
            update(Person)
            .where(Person.id.in_(joiners), Person.household_id.is_(None))
            .values(
                household_id=household_id,
                relationship=None,
                **_household_address(session, household_id),
            )
        )
    if household.head_id in relationships and household.head_id not in heads:
        session.execute(
            update(Person).where(members, Person.id == household.head_id).values(relationship=None)
        )
    leaving = sorted(p for p, r in relationships.items() if r is None)
    if leaving:
        session.execute(
            update(Person)
            .where(members, Person.id.in_(leaving))
            .values(household_id=None, relationship=None)
        )
    # the new head last, once nobody else holds the place
    for person_id, relationship in sorted(staying.items(), key=lambda i: i[1] is Relationship.HEAD):
        session.execute(
            update(Person)
            .where(members, Person.id == person_id)
            .values(relationship=relationship.value)
        )
    audit.record(
        session,
        actor=actor,
        action="identity.household.rearranged",
        object_type="household",
        object_id=household_id,
        data={
            "joined": joiners,
            "left": leaving,
            "relationships": {p: r.value for p, r in sorted(staying.items())},
        },
    )
    return get_household(session, household_id)


# --- persons -------------------------------------------------------------------------------


def _person_row(data: PersonIn, today: date) -> dict[str, Any]:
    if data.birth_date > today:
        raise FieldError("birth_date", "future_birth_date", "未来の日付です", "is in the future")
    if data.birth_date < EARLIEST_BIRTH:
        raise FieldError(
            "birth_date",
            "implausible_birth_date",
            "日付が古すぎます",
            f"is before {EARLIEST_BIRTH.isoformat()}",
        )
    former = _text(data.former_family_name, "former_family_name", 100, required=False)
    former_kana = _kana(
        data.former_family_name_kana, "former_family_name_kana", 200, required=False
    )
    if former_kana and not former:
        raise FieldError(
            "former_family_name",
            "required",
            "旧氏のフリガナだけは登録できません",
            "is required when its reading is given",
        )
    if (data.household_id is None) != (data.relationship is None):
        field = "relationship" if data.household_id else "household_id"
        raise FieldError(
            field,
            "required",
            "世帯と続柄は組で指定してください",
            "household and relationship go together",
        )
    return {
        "family_name": _text(data.family_name, "family_name", 100),
        "given_name": _text(data.given_name, "given_name", 100),
        "family_name_kana": _kana(data.family_name_kana, "family_name_kana", 200),
        "given_name_kana": _kana(data.given_name_kana, "given_name_kana", 200),
        "former_family_name": former,
        "former_family_name_kana": former_kana,
        "birth_date": data.birth_date,
        "sex": data.sex.value,
        "household_id": data.household_id,
        "relationship": data.relationship.value if data.relationship else None,
        "demo": data.demo,
        **_address_columns(data.address),
    }


def _place_in_households(session: Session, rows: list[dict[str, Any]]) -> None:
    """Members take their household's address; each household gets at most one head."""
    household_ids = {r["household_id"] for r in rows if r["household_id"]}
    addresses: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(household_ids)):
        for household in session.execute(
            select(Household).where(Household.id.in_(chunk))
        ).scalars():
            addresses[household.id] = {
                f"address_{k}": getattr(household, f"address_{k}") for k in ADDRESS_COLUMNS
            }
    heads: set[str] = set()
    for chunk in _chunks(sorted(household_ids)):
        heads.update(
            session.execute(
                select(Household.id)
                .join(Person, Person.household_id == Household.id)
                .where(Household.id.in_(chunk), Person.relationship == Relationship.HEAD.value)
            ).scalars()
        )
    for index, row in enumerate(rows):
        household_id = row["household_id"]
        if household_id is None:
            continue
        prefix = f"persons[{index}]." if len(rows) > 1 else ""
        if household_id not in addresses:
            raise FieldError(
                f"{prefix}household_id",
                "unknown_household",
                "世帯が見つかりません",
                "no household has this id",
            )
        given = {k: v for k, v in row.items() if k.startswith("address_") and v is not None}
        if given and any(addresses[household_id][k] != v for k, v in given.items()):
            raise FieldError(
                f"{prefix}address",
                "address_mismatch",
                "世帯の住所と異なります",
                "differs from the household's address",
            )
        row.update(addresses[household_id])
        if row["relationship"] == Relationship.HEAD.value:
            if household_id in heads:
                raise ConflictError(
                    "household_has_head",
                    "この世帯には既に世帯主がいます",
                    "this household already has a head",
                )
            heads.add(household_id)


def _seal_mynumbers(
    session: Session, vault: MyNumberVault, rows: list[dict[str, Any]], numbers: list[str | None]
) -> None:
    """Replace each clear number by its lookup HMAC and ciphertext; refuse duplicates."""
    seen: set[str] = set()
    for index, (row, raw) in enumerate(zip(rows, numbers, strict=True)):
        row["mynumber_hmac"] = row["mynumber_ciphertext"] = None
        if raw is None:
            continue
        field = f"persons[{index}].mynumber" if len(rows) > 1 else "mynumber"
        check = ids.check(ids.IdKind.MYNUMBER, raw)
        if not check.valid:
            raise FieldError(field, "invalid_mynumber", check.reason_ja, check.reason_en)
        number = check.normalized
        lookup = vault.lookup_key(number)
        if lookup in seen:
            raise ConflictError(
                "duplicate_mynumber",
                "同じ個人番号が二度指定されています",
                "the same individual number was given twice",
            )
        seen.add(lookup)
        row["mynumber_hmac"] = lookup
        row["mynumber_ciphertext"] = vault.seal(number)
    if _existing(session, Person.mynumber_hmac, seen):
        raise ConflictError(
            "duplicate_mynumber",
            "この個人番号の人は既に登録されています",
            "a person with this individual number is already registered",
        )


def create_persons(
    session: Session,
    persons: Sequence[PersonIn],
    *,
    actor: str,
    vault: MyNumberVault,
    ids: Sequence[str] | None = None,
) -> list[str]:
    """Register persons (optionally in households, with 個人番号); returns their ids in order."""
    new_ids = _new_ids(len(persons), ids)
    today, now = tokyo_today(), utcnow()
    rows = []
    for index, (person_id, data) in enumerate(zip(new_ids, persons, strict=True)):
        try:
            rows.append({"id": person_id, "created_at": now, **_person_row(data, today)})
        except FieldError as exc:
            raise (exc.within("persons", index) if len(persons) > 1 else exc) from exc
    _place_in_households(session, rows)
    _seal_mynumbers(session, vault, rows, [p.mynumber for p in persons])
    for chunk in _chunks(rows):
        session.execute(insert(_table(Person)), chunk)
    for row in rows:
        audit.record(
            session,
            actor=actor,
            action="identity.person.created",
            object_type="person",
            object_id=row["id"],
            data={
                "municipality_code": row["address_municipality_code"],
                "has_mynumber": row["mynumber_hmac"] is not None,
            },
        )
    return new_ids


def create_person(
    session: Session, data: PersonIn, *, actor: str, vault: MyNumberVault, id: str | None = None
) -> PersonRecord:
    (person_id,) = create_persons(
        session, [data], actor=actor, vault=vault, ids=[id] if id else None
    )
    return get_person(session, person_id)


def _person_record(person: Person) -> PersonRecord:
    return PersonRecord(
        id=person.id,
        family_name=person.family_name,
        given_name=person.given_name,
        family_name_kana=person.family_name_kana,
        given_name_kana=person.given_name_kana,
        former_family_name=person.former_family_name,
        former_family_name_kana=person.former_family_name_kana,
        birth_date=person.birth_date,
        sex=Sex(person.sex),
        address=_address_of(person),
        household_id=person.household_id,
        relationship=Relationship(person.relationship) if person.relationship else None,
        has_mynumber=person.mynumber_hmac is not None,
        demo=person.demo,
        created_at=person.created_at,
    )


def get_person(session: Session, person_id: str) -> PersonRecord:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError(
            "person_not_found", "該当する人が見つかりません", f"no person has the id {person_id}"
        )
    return _person_record(person)


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def contact_email(session: Session, person_id: str) -> str | None:
    """Where the person asked to be told that something awaits them (None: not at all)."""
    person = session.get(Person, person_id)
    return person.contact_email if person is not None else None


def set_contact_email(session: Session, person_id: str, email: str | None, *, actor: str) -> None:
    """Set or clear the contact e-mail; the audit notes the change, not the address."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError(
            "person_not_found", "該当する人が見つかりません", f"no person has the id {person_id}"
        )
    value = (email or "").strip() or None
    if value is not None and (len(value) > 254 or not _EMAIL.match(value)):
        raise ValidationError(
            "bad_email",
            "メールアドレスの形式が正しくありません。",
            "That is not an e-mail address.",
        )
    person.contact_email = value
    audit.record(
        session, actor=actor, action="identity.contact_email_set", object_type="person",
        object_id=person_id, data={"present": value is not None},
    )  # fmt: skip


def find_person_by_mynumber(
    session: Session, vault: MyNumberVault, mynumber: str
) -> PersonRecord | None:
    """The person holding this 個人番号, found through its keyed hash (the number is not stored)."""
    person = session.execute(
        select(Person).where(Person.mynumber_hmac == vault.lookup_key(mynumber))
    ).scalar_one_or_none()
    return _person_record(person) if person else None


def list_persons(
    session: Session,
    *,
    household_id: str | None = None,
    municipality_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[PersonRecord]:
    """Persons of a household or municipality (internal use: never expose publicly)."""
    query = select(Person).order_by(Person.family_name_kana, Person.given_name_kana, Person.id)
    if household_id is not None:
        query = query.where(Person.household_id == household_id)
    if municipality_code is not None:
        query = query.where(
            Person.address_municipality_code == _lgcode(municipality_code, "municipality_code")
        )
    return [_person_record(p) for p in session.execute(query.limit(limit).offset(offset)).scalars()]


def reveal_mynumber(
    session: Session, vault: MyNumberVault, person_id: str, *, actor: str, purpose: str
) -> str | None:
    """Decrypt a person's 個人番号 for a stated purpose; the access is audited (without it)."""
    reason = _text(purpose, "purpose", 200)
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError(
            "person_not_found", "該当する人が見つかりません", f"no person has the id {person_id}"
        )
    audit.record(
        session,
        actor=actor,
        action="identity.person.mynumber_revealed",
        object_type="person",
        object_id=person_id,
        data={"purpose": reason},
    )
    return vault.unseal(person.mynumber_ciphertext) if person.mynumber_ciphertext else None


# --- officials -----------------------------------------------------------------------------


def _login_name(value: str | None) -> str | None:
    if value is None:
        return None
    name = unicodedata.normalize("NFKC", value).strip().lower()
    if not _LOGIN_NAME.match(name):
        raise FieldError(
            "login_name",
            "invalid_login_name",
            "英小文字・数字・「.」「_」「-」で3〜100文字にしてください",
            "must be 3-100 of a-z, 0-9, '.', '_' and '-'",
        )
    return name


def _check_official_links(session: Session, data: OfficialIn) -> None:
    get_organization(session, data.organization_id)
    if data.unit_id:
        unit = session.get(OrganizationUnit, data.unit_id)
        if unit is None or unit.organization_id != data.organization_id:
            raise FieldError(
                "unit_id",
                "unknown_unit",
                "この組織の部署を指定してください",
                "must be a unit of the organization",
            )
    if data.person_id and session.get(Person, data.person_id) is None:
        raise FieldError(
            "person_id", "unknown_person", "該当する人が見つかりません", "no person has this id"
        )


def create_official(
    session: Session, data: OfficialIn, *, actor: str, id: str | None = None
) -> OfficialRecord:
    """Make a person (or a named account) an official of an organization, with roles."""
    _check_official_links(session, data)
    login_name = _login_name(data.login_name)
    if login_name and _existing(session, Official.login_name, [login_name]):
        raise ConflictError(
            "duplicate_login_name",
            f"ログイン名 {login_name} は既に使われています",
            f"the login name {login_name} is already taken",
        )
    if (
        data.person_id
        and session.execute(
            select(Official.id).where(
                Official.organization_id == data.organization_id,
                Official.person_id == data.person_id,
            )
        ).first()
    ):
        raise ConflictError(
            "duplicate_official",
            "この人は既にこの組織の職員です",
            "this person is already an official of the organization",
        )
    official = Official(
        id=_new_ids(1, [id] if id else None)[0],
        organization_id=data.organization_id,
        unit_id=data.unit_id,
        person_id=data.person_id,
        display_name=_text(data.display_name, "display_name", 200),
        login_name=login_name,
        title=_text(data.title, "title", 100, required=False),
        active=True,
        demo=data.demo,
        created_at=utcnow(),
    )
    session.add(official)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="identity.official.created",
        object_type="official",
        object_id=official.id,
        data={"login_name": login_name, "has_person": data.person_id is not None},
    )
    set_official_roles(session, official.id, data.roles, actor=actor)
    return get_official(session, official.id)


def set_official_roles(
    session: Session, official_id: str, roles: Iterable[OfficialRole], *, actor: str
) -> list[OfficialRole]:
    """Replace an official's roles (audited); returns them sorted."""
    if session.get(Official, official_id) is None:
        raise NotFoundError(
            "official_not_found", "職員が見つかりません", f"no official has the id {official_id}"
        )
    wanted = sorted({OfficialRole(r) for r in roles})
    session.execute(delete(OfficialRoleGrant).where(OfficialRoleGrant.official_id == official_id))
    if wanted:
        session.execute(
            insert(OfficialRoleGrant),
            [{"official_id": official_id, "role": r.value} for r in wanted],
        )
    audit.record(
        session,
        actor=actor,
        action="identity.official.roles_set",
        object_type="official",
        object_id=official_id,
        data={"roles": [r.value for r in wanted]},
    )
    return wanted


def _roles_of(session: Session, official_ids: Sequence[str]) -> dict[str, list[OfficialRole]]:
    roles: dict[str, list[OfficialRole]] = {i: [] for i in official_ids}
    for chunk in _chunks(official_ids):
        grants = session.execute(
            select(OfficialRoleGrant)
            .where(OfficialRoleGrant.official_id.in_(chunk))
            .order_by(OfficialRoleGrant.role)
        ).scalars()
        for grant in grants:
            roles[grant.official_id].append(OfficialRole(grant.role))
    return roles


def _official_records(session: Session, officials: Sequence[Official]) -> list[OfficialRecord]:
    roles = _roles_of(session, [o.id for o in officials])
    return [
        OfficialRecord(
            id=o.id,
            organization_id=o.organization_id,
            unit_id=o.unit_id,
            person_id=o.person_id,
            display_name=o.display_name,
            login_name=o.login_name,
            title=o.title,
            roles=roles[o.id],
            active=o.active,
            demo=o.demo,
        )
        for o in officials
    ]


def get_official(session: Session, official_id: str) -> OfficialRecord:
    official = session.get(Official, official_id)
    if official is None:
        raise NotFoundError(
            "official_not_found", "職員が見つかりません", f"no official has the id {official_id}"
        )
    return _official_records(session, [official])[0]


def find_official_by_login(session: Session, login_name: str) -> OfficialRecord | None:
    """The official with this login name (case-insensitive), if any."""
    name = unicodedata.normalize("NFKC", login_name).strip().lower()
    official = session.execute(
        select(Official).where(Official.login_name == name)
    ).scalar_one_or_none()
    return _official_records(session, [official])[0] if official else None


def list_officials(
    session: Session,
    *,
    organization_id: str | None = None,
    person_id: str | None = None,
    role: OfficialRole | None = None,
) -> list[OfficialRecord]:
    """Officials of an organization and/or of a person, optionally holding ``role``."""
    query = select(Official).order_by(Official.organization_id, Official.display_name, Official.id)
    if organization_id is not None:
        query = query.where(Official.organization_id == organization_id)
    if person_id is not None:
        query = query.where(Official.person_id == person_id)
    if role is not None:
        query = query.where(
            Official.id.in_(
                select(OfficialRoleGrant.official_id).where(OfficialRoleGrant.role == role.value)
            )
        )
    return _official_records(session, session.execute(query).scalars().all())


def has_role(session: Session, official_id: str, role: OfficialRole) -> bool:
    """Whether an active official holds ``role`` (the hook permission checks build on)."""
    official = session.get(Official, official_id)
    if official is None or not official.active:
        return False
    grant = session.get(OfficialRoleGrant, (official_id, OfficialRole(role).value))
    return grant is not None


# --- imports and fingerprints --------------------------------------------------------------

_TABLES: dict[str, Any] = {
    "organization": Organization,
    "unit": OrganizationUnit,
    "household": Household,
    "person": Person,
    "official": Official,
}
# What two equal worlds may legitimately differ in: when rows were written,
# and ciphertexts (Fernet draws a fresh IV each time).
_NOT_CONTENT = {"created_at", "mynumber_ciphertext"}


def existing_ids(session: Session, kind: str, candidate_ids: Iterable[str]) -> set[str]:
    """Which of ``candidate_ids`` are registered as ``kind`` (organization, unit, household,
    person, official); lets imports add only what is missing."""
    return _existing(session, _TABLES[kind].id, candidate_ids)


def content_digest(session: Session) -> str:
    """SHA-256 over all identity rows in primary-key order, without timestamps and ciphertexts.

    Equal digests mean equal parties, households and officials (and equal
    lookup hashes of 個人番号 under the same secret key).
    """
    digest = hashlib.sha256()
    for model in (*_TABLES.values(), OfficialRoleGrant):
        table = model.__table__
        columns = [c for c in table.columns if c.name not in _NOT_CONTENT]
        query = select(*columns).order_by(*table.primary_key.columns)
        digest.update(table.name.encode())
        for row in session.execute(query):
            digest.update(json.dumps(list(row), default=str, ensure_ascii=False).encode())
    return digest.hexdigest()
