"""lifeevent: proactive notices (プッシュ型)

Revision ID: lifeevent_0002_proactive
Revises: lifeevent_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lifeevent_0002_proactive"
down_revision: str | Sequence[str] | None = "lifeevent_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lifeevent_proactive_notices",
        sa.Column("id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("period_key", sa.String(100), nullable=False),
        sa.Column("about", sa.String(200), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("procedure_id", sa.String(64), nullable=True),
        sa.Column("prefill", sa.Text(), nullable=False),
        sa.Column("application_id", ID, nullable=True),
        sa.Column("found_on", sa.Date(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lifeevent_proactive_notices"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["procedure_applications.id"],
            name="fk_lifeevent_proactive_notices_application",
        ),
    )
    op.create_index(
        "ix_lifeevent_proactive_notices_person_id", "lifeevent_proactive_notices", ["person_id"]
    )
    op.create_index(
        "uq_lifeevent_proactive_notices_occurrence",
        "lifeevent_proactive_notices",
        ["rule_id", "person_id", "period_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("lifeevent_proactive_notices")
