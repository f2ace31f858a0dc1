"""Organizations, persons, households and officials through the service, on both backends."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session

from tsunagu.core import ids
from tsunagu.core.audit import service as audit
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.clock import tokyo_today
from tsunagu.core.errors import ConflictError, NotFoundError
from tsunagu.identity import service
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
from tsunagu.identity.service import FieldError

ACTOR = "test"
MYNUMBER = "123456789018"
CHIYODA = AddressIn(
    municipality_code="131016", postal_code="1000014", town="永田町", block="1丁目7番1号"
)


def corporation(number: str = "7000012050002", **changes: object) -> OrganizationIn:
    data = OrganizationIn(
        kind=OrganizationKind.CORPORATION,
        name_ja="国税庁",
        name_kana="コクゼイチョウ",
        corporate_number=number,
    )
    return data.model_copy(update=changes)


def person(**changes: object) -> PersonIn:
    data = PersonIn(
        family_name="山田",
        given_name="太郎",
        family_name_kana="ヤマダ",
        given_name_kana="タロウ",
        birth_date=date(1980, 4, 1),
        sex=Sex.MALE,
    )
    return data.model_copy(update=changes)


def audit_actions(session: Session) -> list[str]:
    audit.flush_pending(session)
    return list(session.execute(select(AuditRecord.action).order_by(AuditRecord.seq)).scalars())


# --- organizations -------------------------------------------------------------------------


def test_local_government_from_the_master(session: Session) -> None:
    ward = service.ensure_local_government(session, "１３１０１６", actor=ACTOR)
    assert (ward.name_ja, ward.name_kana, ward.lgcode) == ("千代田区", "チヨダク", "131016")
    assert ward.corporate_number == "8000020131016"
    tokyo = service.get_organization(session, str(ward.parent_id))
    assert (tokyo.kind, tokyo.name_ja, tokyo.lgcode) == (
        OrganizationKind.PREFECTURE,
        "東京都",
        "130001",
    )
    assert service.ensure_local_government(session, "131016", actor=ACTOR) == ward
    assert service.count_organizations(session) == 2
    assert ward.id == service.party_id("lgcode", "131016")  # the same id in every installation


def test_ward_of_a_designated_city_hangs_under_the_city(session: Session) -> None:
    chuo = service.ensure_local_government(session, "011011", actor=ACTOR)
    sapporo = service.get_organization(session, str(chuo.parent_id))
    hokkaido = service.get_organization(session, str(sapporo.parent_id))
    assert (sapporo.name_ja, hokkaido.name_ja) == ("札幌市", "北海道")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            OrganizationIn(
                kind=OrganizationKind.MUNICIPALITY,
                name_ja="千代田区",
                name_kana="チヨダク",
                lgcode="131017",
            ),
            "lgcode",
        ),
        (
            OrganizationIn(
                kind=OrganizationKind.MUNICIPALITY, name_ja="千代田区", name_kana="チヨダク"
            ),
            "lgcode",
        ),
        (
            OrganizationIn(
                kind=OrganizationKind.MUNICIPALITY,
                name_ja="東京都",
                name_kana="トウキョウト",
                lgcode="130001",
            ),
            "lgcode",
        ),
        (
            OrganizationIn(
                kind=OrganizationKind.PREFECTURE,
                name_ja="千代田区",
                name_kana="チヨダク",
                lgcode="131016",
            ),
            "lgcode",
        ),
        (corporation("7000012050003"), "corporate_number"),
        (corporation("700001205000"), "corporate_number"),
        (corporation(None), "corporate_number"),
        (corporation(lgcode="131016"), "lgcode"),
        (corporation(name_kana="National Tax Agency"), "name_kana"),
        (corporation(name_ja="  "), "name_ja"),
        (corporation(parent_id="no-such-organization"), "parent_id"),
        (
            corporation(address=AddressIn(municipality_code="131016", postal_code="0600000")),
            "address.postal_code",
        ),
        (
            corporation(address=AddressIn(municipality_code="131016", prefecture="大阪府")),
            "address.prefecture",
        ),
        (corporation(address=AddressIn(postal_code="9999999")), "address.postal_code"),
    ],
)
def test_invalid_organizations_are_refused_naming_the_field(
    session: Session, data: OrganizationIn, field: str
) -> None:
    with pytest.raises(FieldError) as raised:
        service.create_organization(session, data, actor=ACTOR)
    assert raised.value.field == field
    assert raised.value.message_en.startswith(f"{field}:")
    assert f"[{field}]" in raised.value.message_ja
    assert service.count_organizations(session) == 0


def test_full_width_numbers_and_readings_are_normalised(session: Session) -> None:
    org = service.create_organization(
        session,
        corporation(
            "７０００－０１２０－５０００２",
            name_kana="こくぜいちょう",
            address=CHIYODA.model_copy(update={"postal_code": "〒100-0014"}),
        ),
        actor=ACTOR,
    )
    assert org.corporate_number == "7000012050002"
    assert org.name_kana == "コクゼイチョウ"
    assert org.address is not None
    assert org.address.text() == "東京都千代田区永田町1丁目7番1号"
    assert org.address.postal_code == "1000014"
    assert service.find_organization(session, corporate_number="７００００１２０５０００２") == org


def test_numbers_are_unique(session: Session) -> None:
    service.create_organization(session, corporation(), actor=ACTOR)
    with pytest.raises(ConflictError):
        service.create_organization(session, corporation(name_ja="別名"), actor=ACTOR)


def test_listing_filters_and_units(session: Session) -> None:
    ward = service.ensure_local_government(session, "131016", actor=ACTOR)
    agency = service.create_organization(session, corporation(), actor=ACTOR)
    assert [
        o.id for o in service.list_organizations(session, kind=OrganizationKind.CORPORATION)
    ] == [agency.id]
    assert [o.id for o in service.list_organizations(session, parent_id=ward.parent_id)] == [
        ward.id
    ]
    section = service.create_unit(
        session, ward.id, UnitIn(code="resident", name_ja="住民課"), actor=ACTOR
    )
    service.create_unit(
        session,
        ward.id,
        UnitIn(code="resident.counter", name_ja="窓口係", parent_id=section.id),
        actor=ACTOR,
    )
    with pytest.raises(ConflictError):
        service.create_unit(session, ward.id, UnitIn(code="resident", name_ja="重複"), actor=ACTOR)
    with pytest.raises(FieldError):
        service.create_unit(
            session,
            agency.id,
            UnitIn(code="x", name_ja="他組織の下", parent_id=section.id),
            actor=ACTOR,
        )
    detail = service.organization_detail(session, ward.id)
    assert [u.code for u in detail.units] == ["resident", "resident.counter"]
    with pytest.raises(NotFoundError):
        service.get_organization(session, "00000000-0000-0000-0000-000000000000")


# --- households and persons ----------------------------------------------------------------


def test_household_members_share_its_address(session: Session, vault: MyNumberVault) -> None:
    household = service.create_household(session, HouseholdIn(address=CHIYODA), actor=ACTOR)
    head = service.create_person(
        session,
        person(household_id=household.id, relationship=Relationship.HEAD),
        actor=ACTOR,
        vault=vault,
    )
    child = service.create_person(
        session,
        person(
            given_name="花子",
            given_name_kana="ﾊﾅｺ",
            sex=Sex.FEMALE,
            birth_date=date(2010, 5, 5),
            household_id=household.id,
            relationship=Relationship.CHILD,
        ),
        actor=ACTOR,
        vault=vault,
    )
    assert child.given_name_kana == "ハナコ"
    assert child.address == head.address and head.address is not None
    assert head.address.text() == "東京都千代田区永田町1丁目7番1号"
    record = service.get_household(session, household.id)
    assert record.head_id == head.id and set(record.member_ids) == {head.id, child.id}
    with pytest.raises(ConflictError):
        service.create_person(
            session,
            person(household_id=household.id, relationship=Relationship.HEAD),
            actor=ACTOR,
            vault=vault,
        )
    elsewhere = AddressIn(municipality_code="131016", town="丸の内")
    with pytest.raises(FieldError) as raised:
        service.create_person(
            session,
            person(household_id=household.id, address=elsewhere, relationship=Relationship.SPOUSE),
            actor=ACTOR,
            vault=vault,
        )
    assert raised.value.field == "address"


def _family(session: Session, vault: MyNumberVault) -> tuple[str, str, str, str]:
    """A household of three: (household, head, spouse, child)."""
    household = service.create_household(session, HouseholdIn(address=CHIYODA), actor=ACTOR).id
    head, spouse, child = service.create_persons(
        session,
        [
            person(household_id=household, relationship=Relationship.HEAD),
            person(given_name="花子", sex=Sex.FEMALE, household_id=household,
                   relationship=Relationship.SPOUSE),
            person(given_name="一郎", birth_date=date(2010, 5, 5), household_id=household,
                   relationship=Relationship.CHILD),
        ],
        actor=ACTOR,
        vault=vault,
    )  # fmt: skip
    return household, head, spouse, child


def test_a_rearranged_household_gets_its_new_head_after_the_old_one_left(
    session: Session, vault: MyNumberVault
) -> None:
    household, head, spouse, child = _family(session, vault)
    record = service.rearrange_household(
        session, household, {head: None, spouse: Relationship.HEAD, child: Relationship.CHILD},
        actor=ACTOR,
    )  # fmt: skip
    assert record.head_id == spouse and set(record.member_ids) == {spouse, child}
    left = service.get_person(session, head)
    assert (left.household_id, left.relationship) == (None, None)  # still a party
    # the head's place passes back and forth within the household in one call each way
    record = service.rearrange_household(
        session, household, {spouse: Relationship.SPOUSE, child: Relationship.HEAD}, actor=ACTOR
    )
    assert record.head_id == child
    assert service.get_person(session, spouse).relationship is Relationship.SPOUSE
    assert audit_actions(session).count("identity.household.rearranged") == 2


def test_a_household_is_never_given_two_heads_nor_strangers(
    session: Session, vault: MyNumberVault
) -> None:
    household, head, spouse, _child = _family(session, vault)
    with pytest.raises(ConflictError) as two:
        service.rearrange_household(session, household, {spouse: Relationship.HEAD}, actor=ACTOR)
    assert two.value.code == "household_has_head"
    other = service.create_person(session, person(given_name="次郎"), actor=ACTOR, vault=vault)
    with pytest.raises(ConflictError) as stranger:
        service.rearrange_household(session, household, {other.id: None}, actor=ACTOR)
    assert stranger.value.code == "not_a_member"
    with pytest.raises(NotFoundError):
        service.rearrange_household(session, other.id, {}, actor=ACTOR)
    assert service.get_household(session, household).head_id == head


def test_a_person_joins_a_household_with_its_address_and_at_most_one_head(
    session: Session, vault: MyNumberVault
) -> None:
    household, head, _spouse, _child = _family(session, vault)
    mother = service.create_person(session, person(given_name="節子"), actor=ACTOR, vault=vault).id
    with pytest.raises(ConflictError) as two:
        service.rearrange_household(
            session, household, {mother: Relationship.HEAD}, actor=ACTOR, joining=[mother]
        )
    assert two.value.code == "household_has_head"
    with pytest.raises(ConflictError) as bare:
        service.rearrange_household(session, household, {}, actor=ACTOR, joining=[mother])
    assert bare.value.code == "no_relationship"
    # the head's place passes to the newcomer in the same call that brings her in
    record = service.rearrange_household(
        session, household, {mother: Relationship.HEAD, head: Relationship.CHILD},
        actor=ACTOR, joining=[mother],
    )  # fmt: skip
    assert record.head_id == mother and mother in record.member_ids
    assert service.get_person(session, mother).address == record.address
    other = service.create_household(session, HouseholdIn(address=CHIYODA), actor=ACTOR).id
    with pytest.raises(ConflictError) as placed:
        service.rearrange_household(
            session, other, {mother: Relationship.HEAD}, actor=ACTOR, joining=[mother]
        )
    assert placed.value.code == "in_a_household"
    [*_, joined] = audit.records_of(session, "household", household)
    assert joined.action == "identity.household.rearranged" and mother in joined.data


def test_household_needs_a_known_municipality(session: Session) -> None:
    for address, field in (
        (AddressIn(town="永田町"), "address.municipality_code"),
        (AddressIn(municipality_code="131017"), "address.municipality_code"),
        (AddressIn(municipality_code=ids.complete("lgcode", "13999")), "address.municipality_code"),
    ):
        with pytest.raises(FieldError) as raised:
            service.create_household(session, HouseholdIn(address=address), actor=ACTOR)
        assert raised.value.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"family_name_kana": "Yamada"}, "family_name_kana"),
        ({"given_name": ""}, "given_name"),
        ({"family_name": "山\x00田"}, "family_name"),
        ({"birth_date": tokyo_today() + timedelta(days=1)}, "birth_date"),
        ({"birth_date": date(1850, 1, 1)}, "birth_date"),
        ({"former_family_name_kana": "スズキ"}, "former_family_name"),
        ({"relationship": Relationship.CHILD}, "household_id"),
        (
            {
                "household_id": "00000000-0000-0000-0000-000000000000",
                "relationship": Relationship.HEAD,
            },
            "household_id",
        ),
        ({"mynumber": "123456789019"}, "mynumber"),
        ({"mynumber": "12345678901"}, "mynumber"),
    ],
)
def test_invalid_persons_are_refused_naming_the_field(
    session: Session, vault: MyNumberVault, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(FieldError) as raised:
        service.create_person(session, person(**changes), actor=ACTOR, vault=vault)
    assert raised.value.field == field
    assert raised.value.message_en.startswith(f"{field}:")
    assert MYNUMBER[:11] not in raised.value.message_en + raised.value.message_ja


def test_bulk_errors_name_the_item(session: Session, vault: MyNumberVault) -> None:
    with pytest.raises(FieldError) as raised:
        service.create_persons(
            session, [person(), person(given_name_kana="taro")], actor=ACTOR, vault=vault
        )
    assert raised.value.field == "persons[1].given_name_kana"
    assert service.list_persons(session) == []


def test_former_family_name(session: Session, vault: MyNumberVault) -> None:
    created = service.create_person(
        session,
        person(former_family_name="鈴木", former_family_name_kana="すずき"),
        actor=ACTOR,
        vault=vault,
    )
    assert (created.former_family_name, created.former_family_name_kana) == ("鈴木", "スズキ")


# --- 個人番号 --------------------------------------------------------------------------------


def _all_stored_text(engine: Engine, session: Session) -> str:
    session.flush()
    audit.flush_pending(session)
    texts = []
    for table in inspect(engine).get_table_names():
        for row in session.execute(text(f'SELECT * FROM "{table}"')):
            texts.append(repr(tuple(row)))
    return "\n".join(texts)


def test_mynumber_is_found_by_its_keyed_hash_and_stored_nowhere_in_clear(
    engine: Engine, session: Session, vault: MyNumberVault
) -> None:
    created = service.create_person(
        session, person(mynumber="１２３４ ５６７８ ９０１８"), actor=ACTOR, vault=vault
    )
    assert created.has_mynumber
    assert service.find_person_by_mynumber(session, vault, MYNUMBER) == created
    assert service.find_person_by_mynumber(session, vault, "１２３４５６７８９０１８") == created
    assert service.find_person_by_mynumber(session, MyNumberVault("another key"), MYNUMBER) is None
    assert (
        service.find_person_by_mynumber(session, vault, ids.complete("mynumber", "10000000000"))
        is None
    )

    revealed = service.reveal_mynumber(
        session, vault, created.id, actor="clerk", purpose="源泉徴収票の作成"
    )
    assert revealed == MYNUMBER
    assert "identity.person.mynumber_revealed" in audit_actions(session)

    stored = _all_stored_text(engine, session)
    assert MYNUMBER not in stored
    assert "1234" + "56789018" not in stored.replace(" ", "")
    assert audit.verify_chain(session) is None


def test_the_same_mynumber_cannot_belong_to_two_persons(
    session: Session, vault: MyNumberVault
) -> None:
    service.create_person(session, person(mynumber=MYNUMBER), actor=ACTOR, vault=vault)
    with pytest.raises(ConflictError) as raised:
        service.create_person(
            session, person(given_name="次郎", mynumber=MYNUMBER), actor=ACTOR, vault=vault
        )
    assert MYNUMBER not in raised.value.message_en
    with pytest.raises(ConflictError):
        service.create_persons(
            session,
            [person(mynumber="１２３４５６７８９０１８"), person(mynumber=MYNUMBER)],
            actor=ACTOR,
            vault=vault,
        )


def test_unreadable_ciphertext_is_a_clear_error(session: Session, vault: MyNumberVault) -> None:
    created = service.create_person(session, person(mynumber=MYNUMBER), actor=ACTOR, vault=vault)
    with pytest.raises(Exception, match="decrypt"):
        service.reveal_mynumber(
            session, MyNumberVault("rotated"), created.id, actor="x", purpose="y"
        )


# --- officials -----------------------------------------------------------------------------


def test_officials_with_roles(session: Session, vault: MyNumberVault) -> None:
    ward = service.ensure_local_government(session, "131016", actor=ACTOR)
    unit = service.create_unit(
        session, ward.id, UnitIn(code="resident", name_ja="住民課"), actor=ACTOR
    )
    clerk = service.create_person(session, person(), actor=ACTOR, vault=vault)
    official = service.create_official(
        session,
        OfficialIn(
            organization_id=ward.id,
            unit_id=unit.id,
            person_id=clerk.id,
            display_name="山田 太郎",
            login_name="Ｙａｍａｄａ.Taro",
            roles=[OfficialRole.REVIEWER, OfficialRole.COUNTER_STAFF, OfficialRole.REVIEWER],
        ),
        actor=ACTOR,
    )
    assert official.login_name == "yamada.taro"
    assert official.roles == [OfficialRole.COUNTER_STAFF, OfficialRole.REVIEWER]
    assert service.has_role(session, official.id, OfficialRole.REVIEWER)
    assert not service.has_role(session, official.id, OfficialRole.ADMINISTRATOR)
    assert service.find_official_by_login(session, "YAMADA.TARO") == official
    assert service.list_officials(session, person_id=clerk.id) == [official]
    assert service.list_officials(session, role=OfficialRole.ADMINISTRATOR) == []
    service.set_official_roles(session, official.id, [OfficialRole.ADMINISTRATOR], actor="admin")
    assert service.get_official(session, official.id).roles == [OfficialRole.ADMINISTRATOR]

    account = service.create_official(
        session,
        OfficialIn(organization_id=ward.id, display_name="システム連携", login_name="batch-01"),
        actor=ACTOR,
    )
    assert account.person_id is None and account.roles == []
    with pytest.raises(ConflictError):
        service.create_official(
            session,
            OfficialIn(organization_id=ward.id, display_name="x", login_name="yamada.taro"),
            actor=ACTOR,
        )
    with pytest.raises(ConflictError):
        service.create_official(
            session,
            OfficialIn(organization_id=ward.id, display_name="x", person_id=clerk.id),
            actor=ACTOR,
        )
    for data, field in (
        (OfficialIn(organization_id=ward.id, display_name="x", login_name="a b"), "login_name"),
        (OfficialIn(organization_id=ward.id, display_name="x", unit_id="nope"), "unit_id"),
        (OfficialIn(organization_id=ward.id, display_name="x", person_id="nope"), "person_id"),
        (OfficialIn(organization_id=ward.id, display_name=" "), "display_name"),
    ):
        with pytest.raises(FieldError) as raised:
            service.create_official(session, data, actor=ACTOR)
        assert raised.value.field == field
    with pytest.raises(NotFoundError):
        service.create_official(
            session, OfficialIn(organization_id="nope", display_name="x"), actor=ACTOR
        )


def test_every_creation_is_audited_without_personal_data(
    session: Session, vault: MyNumberVault
) -> None:
    ward = service.ensure_local_government(session, "131016", actor=ACTOR)
    household = service.create_household(session, HouseholdIn(address=CHIYODA), actor=ACTOR)
    resident = service.create_person(
        session,
        person(household_id=household.id, relationship=Relationship.HEAD, mynumber=MYNUMBER),
        actor=ACTOR,
        vault=vault,
    )
    service.create_official(
        session,
        OfficialIn(organization_id=ward.id, person_id=resident.id, display_name="山田 太郎"),
        actor=ACTOR,
    )
    assert audit_actions(session) == [
        "identity.organization.created",  # 東京都
        "identity.organization.created",  # 千代田区
        "identity.household.created",
        "identity.person.created",
        "identity.official.created",
        "identity.official.roles_set",
    ]
    person_record = session.execute(
        select(AuditRecord).where(AuditRecord.object_id == resident.id)
    ).scalar_one()
    assert "山田" not in person_record.data and "ヤマダ" not in person_record.data
    assert session.execute(select(func.count()).select_from(AuditRecord)).scalar_one() == 6
