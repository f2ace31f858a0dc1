"""opendata: the search index's token (in-memory snapshots check it before use)

Revision ID: opendata_0002
Revises: opendata_0001
Create Date: 2026-11-26
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "opendata_0002"
down_revision: str | Sequence[str] | None = "opendata_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    state = op.create_table(
        "opendata_search_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_search_state")),
    )
    op.bulk_insert(state, [{"id": 1, "token": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("opendata_search_state")
