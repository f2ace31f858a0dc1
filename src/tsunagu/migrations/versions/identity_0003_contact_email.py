"""identity: a person's contact e-mail (told that a notice awaits them, never what it says)

Revision ID: identity_0003
Revises: identity_0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0003"
down_revision: str | Sequence[str] | None = "identity_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identity_persons") as batch:
        batch.add_column(sa.Column("contact_email", sa.String(254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_persons") as batch:
        batch.drop_column("contact_email")
