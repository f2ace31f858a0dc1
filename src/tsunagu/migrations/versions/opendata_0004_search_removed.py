"""opendata: count of search documents ever removed, kept with the index token

Revision ID: opendata_0004
Revises: opendata_0003
Create Date: 2026-11-26

A snapshot that catches up compares it with the removals it can account for
(documents replaced by newer ones); only a difference makes it look for
documents removed outright, so no ``count(*)`` over the index is needed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "opendata_0004"
down_revision: str | Sequence[str] | None = "opendata_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("opendata_search_state") as batch:
        batch.add_column(sa.Column("removed", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("opendata_search_state") as batch:
        batch.alter_column("removed", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("opendata_search_state") as batch:
        batch.drop_column("removed")
