"""procedure: applications, evidence fetched for them, comments

Revision ID: procedure_0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "procedure_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("procedure",)
depends_on: str | Sequence[str] | None = ("identity_0002", "exchange_0001")

ID = sa.String(36)
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "procedure_applications",
        sa.Column("id", ID, nullable=False),
        sa.Column("procedure_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("applicant", sa.String(80), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("subject_kind", sa.String(20), nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("delegation_id", ID, nullable=True),
        sa.Column("owner_id", ID, nullable=True),
        sa.Column("form_data", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("signer_serial", sa.String(64), nullable=True),
        sa.Column("case_id", ID, nullable=True),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("submitted_at", TZ, nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("days_used", sa.Integer(), nullable=False),
        sa.Column("clock_from", sa.Date(), nullable=True),
        sa.Column("assigned_to", ID, nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("decided_by", sa.String(80), nullable=True),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_applications"),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["identity_organizations.id"],
            name="fk_procedure_applications_owner_id_identity_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"],
            ["identity_officials.id"],
            name="fk_procedure_applications_assigned_to_identity_officials",
        ),
    )
    for column in ("procedure_id", "status", "applicant", "subject_id", "owner_id"):
        op.create_index(f"ix_procedure_applications_{column}", "procedure_applications", [column])
    op.create_table(
        "procedure_evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("evidence_type", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("owner_id", ID, nullable=True),
        sa.Column("records", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("seal_serial", sa.String(64), nullable=True),
        sa.Column("fetched_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_evidence"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["procedure_applications.id"],
            name="fk_procedure_evidence_application_id_procedure_applications",
        ),
    )
    op.create_index(
        "ix_procedure_evidence_application_id", "procedure_evidence", ["application_id"]
    )
    op.create_table(
        "procedure_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("author", sa.String(80), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_comments"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["procedure_applications.id"],
            name="fk_procedure_comments_application_id_procedure_applications",
        ),
    )
    op.create_index(
        "ix_procedure_comments_application_id", "procedure_comments", ["application_id"]
    )


def downgrade() -> None:
    op.drop_table("procedure_comments")
    op.drop_table("procedure_evidence")
    op.drop_table("procedure_applications")
