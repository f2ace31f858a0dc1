"""procedure: fees — payments, provider events (idempotency), exemptions, receipts, sandbox

Revision ID: procedure_0004
Revises: procedure_0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "procedure_0004"
down_revision: str | Sequence[str] | None = "procedure_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
TZ = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "procedure_payments",
        sa.Column("id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("intent_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("payer", sa.String(80), nullable=False),
        sa.Column("checkout_url", sa.String(500), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("settled_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_payments"),
        _fk("procedure_payments", "application_id", "procedure_applications"),
        _fk("procedure_payments", "organization_id", "identity_organizations"),
        sa.UniqueConstraint("provider", "intent_id", name="uq_procedure_payments_provider"),
    )
    op.create_index(
        "ix_procedure_payments_application_id", "procedure_payments", ["application_id"]
    )
    op.create_index("ix_procedure_payments_status", "procedure_payments", ["status"])
    op.create_table(
        "procedure_payment_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("payment_id", ID, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_payment_events"),
        _fk("procedure_payment_events", "payment_id", "procedure_payments"),
        sa.UniqueConstraint("provider", "event_id", name="uq_procedure_payment_events_provider"),
    )
    op.create_index(
        "ix_procedure_payment_events_payment_id", "procedure_payment_events", ["payment_id"]
    )
    op.create_table(
        "procedure_exemptions",
        sa.Column("application_id", ID, nullable=False),
        sa.Column("exemption_id", sa.String(64), nullable=False),
        sa.Column("waived", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(80), nullable=False),
        sa.Column("claimed_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("application_id", name="pk_procedure_exemptions"),
        _fk("procedure_exemptions", "application_id", "procedure_applications"),
    )
    op.create_table(
        "procedure_receipts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("payment_id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("seal_serial", sa.String(64), nullable=False),
        sa.Column("issued_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_receipts"),
        _fk("procedure_receipts", "payment_id", "procedure_payments"),
        _fk("procedure_receipts", "application_id", "procedure_applications"),
        _fk("procedure_receipts", "organization_id", "identity_organizations"),
        sa.UniqueConstraint("payment_id", name="uq_procedure_receipts_payment_id"),
    )
    op.create_index(
        "ix_procedure_receipts_application_id", "procedure_receipts", ["application_id"]
    )
    op.create_table(
        "procedure_sandbox_intents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("return_url", sa.String(500), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("completed_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_sandbox_intents"),
    )


def downgrade() -> None:
    op.drop_table("procedure_sandbox_intents")
    op.drop_index("ix_procedure_receipts_application_id", table_name="procedure_receipts")
    op.drop_table("procedure_receipts")
    op.drop_table("procedure_exemptions")
    op.drop_index("ix_procedure_payment_events_payment_id", table_name="procedure_payment_events")
    op.drop_table("procedure_payment_events")
    op.drop_index("ix_procedure_payments_status", table_name="procedure_payments")
    op.drop_index("ix_procedure_payments_application_id", table_name="procedure_payments")
    op.drop_table("procedure_payments")
