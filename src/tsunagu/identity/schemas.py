"""The identity module's vocabulary and its input/output shapes.

Inputs (``…In``) carry what a caller knows; the service normalises and
validates them (全角 digits, hiragana readings) and raises bilingual
:class:`~tsunagu.core.errors.ValidationError` naming the field. Outputs are
snapshots other modules can keep without touching this module's tables.
``OrganizationPublic`` is what anyone may see; ``PersonRecord`` is internal
and never returned by a public endpoint.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class OrganizationKind(StrEnum):
    MUNICIPALITY = "municipality"  # 市区町村 (incl. 特別区)
    PREFECTURE = "prefecture"  # 都道府県
    MINISTRY = "ministry"  # 府省庁 (国の行政機関)
    CORPORATION = "corporation"  # 法人
    OTHER_AGENCY = "other_agency"  # 独立行政法人, 一部事務組合 …


class Sex(StrEnum):
    """Sex as recorded in the resident register (住民票) and the signing certificate."""

    MALE = "male"
    FEMALE = "female"


class Relationship(StrEnum):
    """続柄: a household member's relation to the head of the household (世帯主)."""

    HEAD = "head"  # 世帯主
    SPOUSE = "spouse"  # 妻 / 夫
    CHILD = "child"  # 子
    CHILD_IN_LAW = "child_in_law"  # 子の妻 / 子の夫
    PARENT = "parent"  # 父 / 母
    PARENT_IN_LAW = "parent_in_law"  # 妻の父 / 夫の母 …
    GRANDCHILD = "grandchild"  # 孫
    SIBLING = "sibling"  # 兄 / 姉 / 弟 / 妹
    OTHER_RELATIVE = "other_relative"  # その他の親族
    NON_RELATIVE = "non_relative"  # 同居人 / 縁故者


RELATIONSHIP_LABELS: dict[Relationship, tuple[str, str]] = {
    Relationship.HEAD: ("世帯主", "head of household"),
    Relationship.SPOUSE: ("配偶者", "spouse"),
    Relationship.CHILD: ("子", "child"),
    Relationship.CHILD_IN_LAW: ("子の配偶者", "child's spouse"),
    Relationship.PARENT: ("父母", "parent"),
    Relationship.PARENT_IN_LAW: ("配偶者の父母", "parent-in-law"),
    Relationship.GRANDCHILD: ("孫", "grandchild"),
    Relationship.SIBLING: ("兄弟姉妹", "sibling"),
    Relationship.OTHER_RELATIVE: ("その他の親族", "other relative"),
    Relationship.NON_RELATIVE: ("同居人", "lodger"),
}


class OfficialRole(StrEnum):
    """What an official may do; the trust/login work attaches permissions to these."""

    COUNTER_STAFF = "counter_staff"  # 窓口担当
    REVIEWER = "reviewer"  # 審査担当
    REGISTRY_KEEPER = "registry_keeper"  # 台帳管理者
    DATA_PUBLISHER = "data_publisher"  # データ公開担当
    ADMINISTRATOR = "administrator"  # 管理者


class AddressIn(BaseModel):
    """A Japanese address split as the resident register keeps it.

    ``municipality_code`` is the 6-digit 全国地方公共団体コード; prefecture and
    municipality names are filled from the master when omitted. ``block`` is
    丁目・番地・号 (``2丁目3番4号``), ``building`` the building and room.
    """

    postal_code: str | None = None
    prefecture: str | None = None
    municipality_code: str | None = None
    municipality: str | None = None
    town: str | None = None
    block: str | None = None
    building: str | None = None


class Address(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    postal_code: str | None
    prefecture: str | None
    municipality_code: str | None
    municipality: str | None
    town: str | None
    block: str | None
    building: str | None

    def text(self) -> str:
        """The address on one line as written in Japan (building after a full-width space)."""
        line = "".join(p for p in (self.prefecture, self.municipality, self.town, self.block) if p)
        return f"{line}\u3000{self.building}" if self.building else line


class OrganizationIn(BaseModel):
    kind: OrganizationKind
    name_ja: str
    name_kana: str
    name_en: str | None = None
    lgcode: str | None = None
    corporate_number: str | None = None
    parent_id: str | None = None
    address: AddressIn | None = None
    demo: bool = False


class OrganizationPublic(BaseModel):
    """What anyone may know about an organization (法人番号公表サイト-like facts)."""

    id: str
    kind: OrganizationKind
    name_ja: str
    name_kana: str
    name_en: str | None
    lgcode: str | None
    corporate_number: str | None
    parent_id: str | None
    address: Address | None
    demo: bool = Field(description="fictitious data created by `tsunagu demo seed`")


class UnitIn(BaseModel):
    code: str
    name_ja: str
    name_en: str | None = None
    parent_id: str | None = None


class UnitPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organization_id: str
    code: str
    name_ja: str
    name_en: str | None
    parent_id: str | None


class OrganizationDetail(OrganizationPublic):
    units: list[UnitPublic]


class PersonIn(BaseModel):
    family_name: str
    given_name: str
    family_name_kana: str
    given_name_kana: str
    birth_date: date
    sex: Sex
    former_family_name: str | None = None  # 旧氏
    former_family_name_kana: str | None = None
    address: AddressIn | None = None
    household_id: str | None = None
    relationship: Relationship | None = None
    mynumber: str | None = Field(default=None, repr=False)  # never stored in clear
    demo: bool = False


class PersonRecord(BaseModel):
    """Internal view of a person (基本4情報 and household); never public, never holds 個人番号."""

    id: str
    family_name: str
    given_name: str
    family_name_kana: str
    given_name_kana: str
    former_family_name: str | None
    former_family_name_kana: str | None
    birth_date: date
    sex: Sex
    address: Address | None
    household_id: str | None
    relationship: Relationship | None
    has_mynumber: bool
    demo: bool
    created_at: datetime

    @property
    def full_name(self) -> str:
        return f"{self.family_name}\u3000{self.given_name}"

    @property
    def full_name_kana(self) -> str:
        return f"{self.family_name_kana}\u3000{self.given_name_kana}"


class HouseholdIn(BaseModel):
    """A household (世帯) at one address; ``address.municipality_code`` is required."""

    address: AddressIn
    demo: bool = False


class HouseholdRecord(BaseModel):
    id: str
    municipality_code: str
    address: Address
    head_id: str | None
    member_ids: list[str]
    demo: bool


class OfficialIn(BaseModel):
    """An official of an organization: a registered person, or an account with a login name."""

    organization_id: str
    display_name: str
    person_id: str | None = None
    unit_id: str | None = None
    login_name: str | None = None
    title: str | None = None  # 役職
    roles: list[OfficialRole] = Field(default_factory=list)
    demo: bool = False


class OfficialRecord(BaseModel):
    id: str
    organization_id: str
    unit_id: str | None
    person_id: str | None
    display_name: str
    login_name: str | None
    title: str | None
    roles: list[OfficialRole]
    active: bool
    demo: bool
