"""identity: login sessions, password+TOTP credentials, business accounts, powers of attorney

Revision ID: identity_0002
Revises: identity_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0002"
down_revision: str | Sequence[str] | None = "identity_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_business_accounts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("prime_person_id", sa.String(length=36), nullable=False),
        sa.Column("verification", sa.String(length=20), nullable=False),
        sa.Column("verification_ref", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["identity_organizations.id"],
            name="fk_identity_business_accounts_organization_id",
        ),
        sa.ForeignKeyConstraint(
            ["prime_person_id"],
            ["identity_persons.id"],
            name=op.f("fk_identity_business_accounts_prime_person_id_identity_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_business_accounts")),
        sa.UniqueConstraint(
            "organization_id", name=op.f("uq_identity_business_accounts_organization_id")
        ),
    )
    op.create_index(
        op.f("ix_identity_business_accounts_prime_person_id"),
        "identity_business_accounts",
        ["prime_person_id"],
        unique=False,
    )
    op.create_table(
        "identity_delegations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("principal_person_id", sa.String(length=36), nullable=True),
        sa.Column("principal_organization_id", sa.String(length=36), nullable=True),
        sa.Column("agent_person_id", sa.String(length=36), nullable=True),
        sa.Column("agent_organization_id", sa.String(length=36), nullable=True),
        sa.Column("procedures", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("signer_serial", sa.String(length=42), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "(agent_person_id IS NULL) <> (agent_organization_id IS NULL)",
            name=op.f("ck_identity_delegations_one_agent"),
        ),
        sa.CheckConstraint(
            "(principal_person_id IS NULL) <> (principal_organization_id IS NULL)",
            name=op.f("ck_identity_delegations_one_principal"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_organization_id"],
            ["identity_organizations.id"],
            name="fk_identity_delegations_agent_organization_id",
        ),
        sa.ForeignKeyConstraint(
            ["agent_person_id"],
            ["identity_persons.id"],
            name=op.f("fk_identity_delegations_agent_person_id_identity_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["principal_organization_id"],
            ["identity_organizations.id"],
            name="fk_identity_delegations_principal_organization_id",
        ),
        sa.ForeignKeyConstraint(
            ["principal_person_id"],
            ["identity_persons.id"],
            name=op.f("fk_identity_delegations_principal_person_id_identity_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_delegations")),
    )
    op.create_index(
        op.f("ix_identity_delegations_agent_organization_id"),
        "identity_delegations",
        ["agent_organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_identity_delegations_agent_person_id"),
        "identity_delegations",
        ["agent_person_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_identity_delegations_principal_organization_id"),
        "identity_delegations",
        ["principal_organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_identity_delegations_principal_person_id"),
        "identity_delegations",
        ["principal_person_id"],
        unique=False,
    )
    op.create_table(
        "identity_business_members",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=True),
        sa.Column("login_name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("is_prime", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["identity_business_accounts.id"],
            name="fk_identity_business_members_account_id",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["identity_persons.id"],
            name=op.f("fk_identity_business_members_person_id_identity_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_business_members")),
        sa.UniqueConstraint("login_name", name=op.f("uq_identity_business_members_login_name")),
    )
    op.create_index(
        op.f("ix_identity_business_members_account_id"),
        "identity_business_members",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_identity_business_members_person_id"),
        "identity_business_members",
        ["person_id"],
        unique=False,
    )
    op.create_table(
        "identity_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("official_id", sa.String(length=36), nullable=True),
        sa.Column("member_id", sa.String(length=36), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_secret", sa.Text(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(official_id IS NULL) <> (member_id IS NULL)",
            name=op.f("ck_identity_credentials_one_holder"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["identity_business_members.id"],
            name=op.f("fk_identity_credentials_member_id_identity_business_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["official_id"],
            ["identity_officials.id"],
            name=op.f("fk_identity_credentials_official_id_identity_officials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_credentials")),
        sa.UniqueConstraint("member_id", name=op.f("uq_identity_credentials_member_id")),
        sa.UniqueConstraint("official_id", name=op.f("uq_identity_credentials_official_id")),
    )
    op.create_table(
        "identity_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=True),
        sa.Column("official_id", sa.String(length=36), nullable=True),
        sa.Column("member_id", sa.String(length=36), nullable=True),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("ial", sa.Integer(), nullable=False),
        sa.Column("aal", sa.Integer(), nullable=False),
        sa.Column("certificate_serial", sa.String(length=42), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(person_id IS NOT NULL) OR (official_id IS NOT NULL) OR (member_id IS NOT NULL)",
            name=op.f("ck_identity_sessions_principal"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["identity_business_members.id"],
            name=op.f("fk_identity_sessions_member_id_identity_business_members"),
        ),
        sa.ForeignKeyConstraint(
            ["official_id"],
            ["identity_officials.id"],
            name=op.f("fk_identity_sessions_official_id_identity_officials"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["identity_persons.id"],
            name=op.f("fk_identity_sessions_person_id_identity_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_sessions")),
    )
    op.create_index(
        op.f("ix_identity_sessions_member_id"), "identity_sessions", ["member_id"], unique=False
    )
    op.create_index(
        op.f("ix_identity_sessions_official_id"), "identity_sessions", ["official_id"], unique=False
    )
    op.create_index(
        op.f("ix_identity_sessions_person_id"), "identity_sessions", ["person_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("identity_sessions")
    op.drop_table("identity_credentials")
    op.drop_table("identity_business_members")
    op.drop_table("identity_delegations")
    op.drop_table("identity_business_accounts")
