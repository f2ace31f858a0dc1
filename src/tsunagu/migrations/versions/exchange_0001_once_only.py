"""exchange: designations, cases and consents, access log, subscriptions and inbox

Revision ID: exchange_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "exchange_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("exchange",)
depends_on: str | Sequence[str] | None = "registry_0001"

ID = sa.String(36)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def _fk_org(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["identity_organizations.id"],
        name=f"fk_{table}_{column}_identity_organizations",
    )


def upgrade() -> None:
    op.create_table(
        "exchange_designations",
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("function_id", sa.String(50), nullable=False),
        sa.Column("designated_at", TZ, nullable=False),
        sa.Column("designated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "function_id", name="pk_exchange_designations"),
        _fk_org("organization_id", "exchange_designations"),
    )
    op.create_table(
        "exchange_cases",
        sa.Column("id", ID, nullable=False),
        sa.Column("requester_id", ID, nullable=False),
        sa.Column("procedure_id", sa.String(50), nullable=False),
        sa.Column("application_ref", sa.String(100), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_exchange_cases"),
        _fk_org("requester_id", "exchange_cases"),
        sa.UniqueConstraint(
            "requester_id", "application_ref", name="uq_exchange_cases_requester_id"
        ),
    )
    op.create_index("ix_exchange_cases_application_ref", "exchange_cases", ["application_ref"])
    op.create_table(
        "exchange_case_subjects",
        sa.Column("case_id", ID, nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "party_id", name="pk_exchange_case_subjects"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["exchange_cases.id"],
            name="fk_exchange_case_subjects_case_id_exchange_cases",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "exchange_consents",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("evidence_type_id", sa.String(50), nullable=True),
        sa.Column("given_at", TZ, nullable=False),
        sa.Column("given_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_exchange_consents"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["exchange_cases.id"],
            name="fk_exchange_consents_case_id_exchange_cases",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_exchange_consents_case_party", "exchange_consents", ["case_id", "party_id"])
    op.create_table(
        "exchange_access_log",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("party_id", sa.String(64), nullable=True),
        sa.Column("requester_id", sa.String(64), nullable=True),
        sa.Column("requester_verified", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=True),
        sa.Column("registry_id", sa.String(50), nullable=True),
        sa.Column("evidence_type_id", sa.String(50), nullable=True),
        sa.Column("procedure_id", sa.String(50), nullable=True),
        sa.Column("application_ref", sa.String(100), nullable=True),
        sa.Column("provision_id", sa.String(50), nullable=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(50), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_exchange_access_log"),
        sa.UniqueConstraint("audit_seq", name="uq_exchange_access_log_audit_seq"),
    )
    op.create_index(
        "ix_exchange_access_log_party_time", "exchange_access_log", ["party_id", "occurred_at"]
    )
    op.create_index(
        "ix_exchange_access_log_requester_time",
        "exchange_access_log",
        ["requester_id", "occurred_at"],
    )
    op.create_index("ix_exchange_access_log_request_id", "exchange_access_log", ["request_id"])
    op.create_table(
        "exchange_subscriptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("subscriber_id", ID, nullable=False),
        sa.Column("basis_id", sa.String(50), nullable=False),
        sa.Column("registry_id", sa.String(50), nullable=False),
        sa.Column("event_id", sa.String(50), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("ended_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_exchange_subscriptions"),
        _fk_org("subscriber_id", "exchange_subscriptions"),
    )
    op.create_index(
        "ix_exchange_subscriptions_subscriber_id", "exchange_subscriptions", ["subscriber_id"]
    )
    op.create_index(
        "ix_exchange_subscriptions_registry_event",
        "exchange_subscriptions",
        ["registry_id", "event_id"],
    )
    op.create_table(
        "exchange_inbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("subscriber_id", sa.String(36), nullable=False),
        sa.Column("publisher_id", sa.String(36), nullable=False),
        sa.Column("registry_id", sa.String(50), nullable=False),
        sa.Column("events", sa.String(500), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("signer_serial", sa.String(42), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("acknowledged_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_exchange_inbox"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["exchange_subscriptions.id"],
            name="fk_exchange_inbox_subscription_id_exchange_subscriptions",
        ),
    )
    op.create_index("ix_exchange_inbox_subscriber_id", "exchange_inbox", ["subscriber_id"])
    op.create_index("ix_exchange_inbox_party_id", "exchange_inbox", ["party_id"])


def downgrade() -> None:
    for table in (
        "exchange_inbox",
        "exchange_subscriptions",
        "exchange_access_log",
        "exchange_consents",
        "exchange_case_subjects",
        "exchange_cases",
        "exchange_designations",
    ):
        op.drop_table(table)
