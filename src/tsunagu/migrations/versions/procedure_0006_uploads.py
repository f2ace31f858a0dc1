"""procedure: documents uploaded to applications where no register holds the facts

Revision ID: procedure_0006
Revises: procedure_0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "procedure_0006"
down_revision: str | Sequence[str] | None = "procedure_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "procedure_uploads",
        sa.Column("id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("field", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_name", sa.String(64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_uploads"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["procedure_applications.id"],
            name="fk_procedure_uploads_application_id_procedure_applications",
        ),
        sa.UniqueConstraint("stored_name", name="uq_procedure_uploads_stored_name"),
    )
    op.create_index("ix_procedure_uploads_application_id", "procedure_uploads", ["application_id"])


def downgrade() -> None:
    op.drop_index("ix_procedure_uploads_application_id", table_name="procedure_uploads")
    op.drop_table("procedure_uploads")
