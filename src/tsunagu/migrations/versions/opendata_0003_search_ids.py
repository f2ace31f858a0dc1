"""opendata: search document ids handed out under the index lock, and a generation

Revision ID: opendata_0003
Revises: opendata_0002
Create Date: 2026-11-26

``opendata_search_state`` gains ``next_id`` (index writers take new document
ids from it while holding the row's lock, so committed ids only grow and
in-memory snapshots can catch up incrementally) and ``generation`` (new when
the row is created again, e.g. after the tables were emptied, which may
reuse ids). The row is disposable, so the table is simply made again.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "opendata_0003"
down_revision: str | Sequence[str] | None = "opendata_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _state(*columns: sa.Column) -> sa.Table:
    return op.create_table(
        "opendata_search_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_search_state")),
    )


def upgrade() -> None:
    highest = op.get_bind().execute(sa.text("SELECT max(id) FROM opendata_search_docs")).scalar()
    op.drop_table("opendata_search_state")
    state = _state(
        sa.Column("generation", sa.String(length=32), nullable=False),
        sa.Column("next_id", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(
        state,
        [
            {
                "id": 1,
                "token": uuid.uuid4().hex,
                "generation": uuid.uuid4().hex,
                "next_id": (highest or 0) + 1,
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("opendata_search_state")
    op.bulk_insert(_state(), [{"id": 1, "token": uuid.uuid4().hex}])
