"""procedure: decision notices (signed PDF and sealed JSON copy)

Revision ID: procedure_0002
Revises: procedure_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "procedure_0002"
down_revision: str | Sequence[str] | None = "procedure_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "procedure_decisions",
        sa.Column("id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("seal_serial", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_decisions"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["procedure_applications.id"],
            name="fk_procedure_decisions_application_id_procedure_applications",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["identity_organizations.id"],
            name="fk_procedure_decisions_organization_id_identity_organizations",
        ),
        sa.UniqueConstraint("application_id", name="uq_procedure_decisions_application_id"),
    )


def downgrade() -> None:
    op.drop_table("procedure_decisions")
