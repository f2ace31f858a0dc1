"""identity: organizations, units, households, persons, officials and their roles

Revision ID: identity_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("identity",)
depends_on: str | Sequence[str] | None = "core_0001"

ID = sa.String(36)
KINDS = "'municipality', 'prefecture', 'ministry', 'corporation', 'other_agency'"
SEXES = "'male', 'female'"
RELATIONSHIPS = (
    "'head', 'spouse', 'child', 'child_in_law', 'parent', 'parent_in_law', 'grandchild',"
    " 'sibling', 'other_relative', 'non_relative'"
)
ROLES = "'counter_staff', 'reviewer', 'registry_keeper', 'data_publisher', 'administrator'"
HEAD_ONLY = sa.text("relationship = 'head'")


def _address_columns() -> list[sa.Column]:
    return [
        sa.Column("address_postal_code", sa.String(7), nullable=True),
        sa.Column("address_prefecture", sa.String(10), nullable=True),
        sa.Column("address_municipality_code", sa.String(6), nullable=True),
        sa.Column("address_municipality", sa.String(50), nullable=True),
        sa.Column("address_town", sa.String(200), nullable=True),
        sa.Column("address_block", sa.String(100), nullable=True),
        sa.Column("address_building", sa.String(200), nullable=True),
    ]


def _index_municipality(table: str) -> None:
    op.create_index(f"ix_{table}_address_municipality_code", table, ["address_municipality_code"])


def upgrade() -> None:
    op.create_table(
        "identity_organizations",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name_ja", sa.String(200), nullable=False),
        sa.Column("name_kana", sa.String(400), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=True),
        sa.Column("lgcode", sa.String(6), nullable=True),
        sa.Column("corporate_number", sa.String(13), nullable=True),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_address_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_organizations"),
        sa.UniqueConstraint("lgcode", name="uq_identity_organizations_lgcode"),
        sa.UniqueConstraint("corporate_number", name="uq_identity_organizations_corporate_number"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["identity_organizations.id"],
            name="fk_identity_organizations_parent_id_identity_organizations",
        ),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_identity_organizations_kind"),
    )
    op.create_index("ix_identity_organizations_kind", "identity_organizations", ["kind"])
    op.create_index("ix_identity_organizations_parent_id", "identity_organizations", ["parent_id"])
    _index_municipality("identity_organizations")

    op.create_table(
        "identity_units",
        sa.Column("id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name_ja", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_units"),
        sa.UniqueConstraint("organization_id", "code", name="uq_identity_units_organization_id"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["identity_organizations.id"],
            name="fk_identity_units_organization_id_identity_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["identity_units.id"],
            name="fk_identity_units_parent_id_identity_units",
        ),
    )

    op.create_table(
        "identity_households",
        sa.Column("id", ID, nullable=False),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_address_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_households"),
    )
    _index_municipality("identity_households")

    op.create_table(
        "identity_persons",
        sa.Column("id", ID, nullable=False),
        sa.Column("family_name", sa.String(100), nullable=False),
        sa.Column("given_name", sa.String(100), nullable=False),
        sa.Column("family_name_kana", sa.String(200), nullable=False),
        sa.Column("given_name_kana", sa.String(200), nullable=False),
        sa.Column("former_family_name", sa.String(100), nullable=True),
        sa.Column("former_family_name_kana", sa.String(200), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("household_id", ID, nullable=True),
        sa.Column("relationship", sa.String(20), nullable=True),
        sa.Column("mynumber_hmac", sa.String(64), nullable=True),
        sa.Column("mynumber_ciphertext", sa.Text(), nullable=True),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_address_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_persons"),
        sa.UniqueConstraint("mynumber_hmac", name="uq_identity_persons_mynumber_hmac"),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["identity_households.id"],
            name="fk_identity_persons_household_id_identity_households",
        ),
        sa.CheckConstraint(f"sex IN ({SEXES})", name="ck_identity_persons_sex"),
        sa.CheckConstraint(
            f"relationship IN ({RELATIONSHIPS})", name="ck_identity_persons_relationship"
        ),
    )
    op.create_index("ix_identity_persons_birth_date", "identity_persons", ["birth_date"])
    op.create_index("ix_identity_persons_household_id", "identity_persons", ["household_id"])
    _index_municipality("identity_persons")
    op.create_index(
        "uq_identity_persons_household_head",
        "identity_persons",
        ["household_id"],
        unique=True,
        sqlite_where=HEAD_ONLY,
        postgresql_where=HEAD_ONLY,
    )

    op.create_table(
        "identity_officials",
        sa.Column("id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("unit_id", ID, nullable=True),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("login_name", sa.String(100), nullable=True),
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_officials"),
        sa.UniqueConstraint("login_name", name="uq_identity_officials_login_name"),
        sa.UniqueConstraint(
            "organization_id", "person_id", name="uq_identity_officials_organization_id"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["identity_organizations.id"],
            name="fk_identity_officials_organization_id_identity_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["identity_units.id"],
            name="fk_identity_officials_unit_id_identity_units",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["identity_persons.id"],
            name="fk_identity_officials_person_id_identity_persons",
        ),
    )
    op.create_index("ix_identity_officials_person_id", "identity_officials", ["person_id"])

    op.create_table(
        "identity_official_roles",
        sa.Column("official_id", ID, nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.PrimaryKeyConstraint("official_id", "role", name="pk_identity_official_roles"),
        sa.ForeignKeyConstraint(
            ["official_id"],
            ["identity_officials.id"],
            name="fk_identity_official_roles_official_id_identity_officials",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(f"role IN ({ROLES})", name="ck_identity_official_roles_role"),
    )


def downgrade() -> None:
    op.drop_table("identity_official_roles")
    op.drop_table("identity_officials")
    op.drop_table("identity_persons")
    op.drop_table("identity_households")
    op.drop_table("identity_units")
    op.drop_table("identity_organizations")
