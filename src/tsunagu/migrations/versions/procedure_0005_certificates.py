"""procedure: certificates (signed PDF, verifiable by document number) and the inbox's read state

Revision ID: procedure_0005
Revises: procedure_0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "procedure_0005"
down_revision: str | Sequence[str] | None = "procedure_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "procedure_certificates",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("seal_serial", sa.String(64), nullable=False),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("revoked_by", sa.String(80), nullable=True),
        sa.PrimaryKeyConstraint("number", name="pk_procedure_certificates"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["procedure_applications.id"],
            name="fk_procedure_certificates_application_id_procedure_applications",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["identity_organizations.id"],
            name="fk_procedure_certificates_organization_id",
        ),
        sa.UniqueConstraint("application_id", name="uq_procedure_certificates_application_id"),
    )
    op.create_table(
        "procedure_inbox_reads",
        sa.Column("person_id", ID, nullable=False),
        sa.Column("item_kind", sa.String(20), nullable=False),
        sa.Column("item_id", sa.String(36), nullable=False),
        sa.Column("read_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint(
            "person_id", "item_kind", "item_id", name="pk_procedure_inbox_reads"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["identity_persons.id"],
            name="fk_procedure_inbox_reads_person_id_identity_persons",
        ),
    )


def downgrade() -> None:
    op.drop_table("procedure_inbox_reads")
    op.drop_table("procedure_certificates")
