"""lifeevent: employers' hire and leaver filings and their parts

Revision ID: lifeevent_0005_employers
Revises: lifeevent_0004_bundles
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lifeevent_0005_employers"
down_revision: str | Sequence[str] | None = "lifeevent_0004_bundles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lifeevent_employer_filings",
        sa.Column("id", ID, nullable=False),
        sa.Column("corporation_id", ID, nullable=False),
        sa.Column("employee_person_id", ID, nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("applicant", sa.String(80), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("submitted_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["corporation_id"], ["identity_organizations.id"]),
        sa.ForeignKeyConstraint(["employee_person_id"], ["identity_persons.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_lifeevent_employer_filings_corporation_id",
        "lifeevent_employer_filings",
        ["corporation_id"],
    )
    op.create_index(
        "ix_lifeevent_employer_filings_employee_person_id",
        "lifeevent_employer_filings",
        ["employee_person_id"],
    )
    op.create_table(
        "lifeevent_employer_parts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filing_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("procedure_id", sa.String(64), nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_ja", sa.Text(), nullable=True),
        sa.Column("error_en", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["filing_id"], ["lifeevent_employer_filings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_lifeevent_employer_parts_filing_id", "lifeevent_employer_parts", ["filing_id"]
    )
    op.create_index(
        "ix_lifeevent_employer_parts_application_id",
        "lifeevent_employer_parts",
        ["application_id"],
    )


def downgrade() -> None:
    op.drop_table("lifeevent_employer_parts")
    op.drop_table("lifeevent_employer_filings")
