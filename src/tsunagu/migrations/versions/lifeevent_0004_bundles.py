"""lifeevent: one-stop bundle filings and their parts

Revision ID: lifeevent_0004_bundles
Revises: lifeevent_0003_subscribers
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lifeevent_0004_bundles"
down_revision: str | Sequence[str] | None = "lifeevent_0003_subscribers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("procedure_0003",)

ID = sa.String(36)
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lifeevent_bundles",
        sa.Column("id", ID, nullable=False),
        sa.Column("bundle_id", sa.String(64), nullable=False),
        sa.Column("applicant", sa.String(80), nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("notify", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("fields_typed", sa.Integer(), nullable=False),
        sa.Column("fields_prefilled", sa.Integer(), nullable=False),
        sa.Column("choices", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("submitted_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["identity_persons.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lifeevent_bundles_bundle_id", "lifeevent_bundles", ["bundle_id"])
    op.create_index("ix_lifeevent_bundles_applicant", "lifeevent_bundles", ["applicant"])
    op.create_index("ix_lifeevent_bundles_person_id", "lifeevent_bundles", ["person_id"])
    op.create_table(
        "lifeevent_bundle_parts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filing_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("procedure_id", sa.String(64), nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_ja", sa.Text(), nullable=True),
        sa.Column("error_en", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["filing_id"], ["lifeevent_bundles.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lifeevent_bundle_parts_filing_id", "lifeevent_bundle_parts", ["filing_id"])
    op.create_index(
        "ix_lifeevent_bundle_parts_application_id", "lifeevent_bundle_parts", ["application_id"]
    )


def downgrade() -> None:
    op.drop_table("lifeevent_bundle_parts")
    op.drop_table("lifeevent_bundles")
