"""Tables of the identity module: organizations, their units, persons, households, officials.

Keys are surrogate UUIDs kept as 36-character strings, as elsewhere in
tsunagu, so other modules can refer to a party without knowing any of its
numbers. A person's 個人番号 is never stored in clear: ``mynumber_hmac`` is a
keyed hash for lookup and ``mynumber_ciphertext`` a Fernet token (see
:mod:`tsunagu.identity.mynumber`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime
from tsunagu.identity.schemas import OfficialRole, OrganizationKind, Relationship, Sex


def _in(column: str, values: type[OrganizationKind | Sex | Relationship | OfficialRole]) -> str:
    """SQL ``column IN (…)`` over an enum's values, so the database rejects strays too."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


ID = String(36)
HEAD_ONLY = text("relationship = 'head'")


class AddressColumns:
    """The address as the resident register keeps it (see ``schemas.AddressIn``)."""

    address_postal_code: Mapped[str | None] = mapped_column(String(7))
    address_prefecture: Mapped[str | None] = mapped_column(String(10))
    address_municipality_code: Mapped[str | None] = mapped_column(String(6), index=True)
    address_municipality: Mapped[str | None] = mapped_column(String(50))
    address_town: Mapped[str | None] = mapped_column(String(200))
    address_block: Mapped[str | None] = mapped_column(String(100))
    address_building: Mapped[str | None] = mapped_column(String(200))


class Organization(AddressColumns, Base):
    """A municipality, prefecture, ministry, corporation or other agency."""

    __tablename__ = "identity_organizations"
    __table_args__ = (CheckConstraint(_in("kind", OrganizationKind), name="kind"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_kana: Mapped[str] = mapped_column(String(400))
    name_en: Mapped[str | None] = mapped_column(String(200))
    lgcode: Mapped[str | None] = mapped_column(String(6), unique=True)
    corporate_number: Mapped[str | None] = mapped_column(String(13), unique=True)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_organizations.id"), index=True
    )
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OrganizationUnit(Base):
    """A department (部署) of an organization; units nest (部 → 課 → 係)."""

    __tablename__ = "identity_units"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("identity_organizations.id"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("identity_units.id"))
    code: Mapped[str] = mapped_column(String(50))
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Household(AddressColumns, Base):
    """A household (世帯); its head is the member whose relationship is ``head``."""

    __tablename__ = "identity_households"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Person(AddressColumns, Base):
    """A natural person with the 基本4情報 (name, birth date, sex, address)."""

    __tablename__ = "identity_persons"
    __table_args__ = (
        CheckConstraint(_in("sex", Sex), name="sex"),
        CheckConstraint(_in("relationship", Relationship), name="relationship"),
        # At most one head per household.
        Index(
            "uq_identity_persons_household_head",
            "household_id",
            unique=True,
            sqlite_where=HEAD_ONLY,
            postgresql_where=HEAD_ONLY,
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name_kana: Mapped[str] = mapped_column(String(200))
    given_name_kana: Mapped[str] = mapped_column(String(200))
    former_family_name: Mapped[str | None] = mapped_column(String(100))
    former_family_name_kana: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date, index=True)
    sex: Mapped[str] = mapped_column(String(10))
    household_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_households.id"), index=True
    )
    relationship: Mapped[str | None] = mapped_column(String(20))
    mynumber_hmac: Mapped[str | None] = mapped_column(String(64), unique=True)
    mynumber_ciphertext: Mapped[str | None] = mapped_column(Text)
    # Where to tell the person that a notice awaits them (never the notice itself).
    contact_email: Mapped[str | None] = mapped_column(String(254))
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Official(Base):
    """A person or account acting for an organization (and optionally one of its units)."""

    __tablename__ = "identity_officials"
    __table_args__ = (UniqueConstraint("organization_id", "person_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("identity_organizations.id"))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("identity_units.id"))
    person_id: Mapped[str | None] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    login_name: Mapped[str | None] = mapped_column(String(100), unique=True)
    title: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OfficialRoleGrant(Base):
    """One role held by an official (an official may hold several)."""

    __tablename__ = "identity_official_roles"
    __table_args__ = (CheckConstraint(_in("role", OfficialRole), name="role"),)

    official_id: Mapped[str] = mapped_column(
        ForeignKey("identity_officials.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(30), primary_key=True)


# Access tables (sessions, credentials, business accounts, powers of attorney) live in
# their own file; importing them here registers them wherever the identity models are used.
from tsunagu.identity import access_models as access_models  # noqa: E402
