"""procedure: applications signed together (a life event's one signature) share a batch id

Revision ID: procedure_0003
Revises: procedure_0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "procedure_0003"
down_revision: str | Sequence[str] | None = "procedure_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("procedure_applications") as batch:
        batch.add_column(sa.Column("batch_id", sa.String(36), nullable=True))
        batch.create_index("ix_procedure_applications_batch_id", ["batch_id"])


def downgrade() -> None:
    with op.batch_alter_table("procedure_applications") as batch:
        batch.drop_index("ix_procedure_applications_batch_id")
        batch.drop_column("batch_id")
