"""registry: bitemporal record versions shared by every base registry

Revision ID: registry_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "registry_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("registry",)
depends_on: str | Sequence[str] | None = "identity_0001"

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CURRENT = sa.text("superseded_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "registry_records",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("registry_id", sa.String(50), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("record_key", sa.String(100), nullable=False),
        sa.Column("party_id", sa.String(36), nullable=True),
        sa.Column("keeper_id", sa.String(36), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_registry_records"),
        sa.ForeignKeyConstraint(
            ["keeper_id"],
            ["identity_organizations.id"],
            name="fk_registry_records_keeper_id_identity_organizations",
        ),
    )
    op.create_index(
        "ix_registry_records_identity",
        "registry_records",
        ["registry_id", "subject_id", "record_key"],
    )
    op.create_index("ix_registry_records_keeper", "registry_records", ["keeper_id", "registry_id"])
    op.create_index("ix_registry_records_party_id", "registry_records", ["party_id"])
    op.create_index(
        "uq_registry_records_current_start",
        "registry_records",
        ["registry_id", "subject_id", "record_key", "valid_from"],
        unique=True,
        sqlite_where=CURRENT,
        postgresql_where=CURRENT,
    )


def downgrade() -> None:
    op.drop_table("registry_records")
