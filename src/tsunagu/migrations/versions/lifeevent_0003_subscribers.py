"""lifeevent: private-sector notice subscribers, residents' consents and webhook deliveries

Revision ID: lifeevent_0003_subscribers
Revises: lifeevent_0002_proactive
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lifeevent_0003_subscribers"
down_revision: str | Sequence[str] | None = "lifeevent_0002_proactive"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
TZ = sa.DateTime(timezone=True)
IN_FORCE = sa.text("withdrawn_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "lifeevent_subscribers",
        sa.Column("id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("corporate_number", sa.String(13), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sector", sa.String(30), nullable=False),
        sa.Column("webhook_url", sa.String(2000), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("declared", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("ended_by", sa.String(100), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["identity_organizations.id"],
            name="fk_lifeevent_subscribers_organization_id_identity_organizations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lifeevent_subscribers"),
    )
    op.create_index(
        "ix_lifeevent_subscribers_organization_id", "lifeevent_subscribers", ["organization_id"]
    )
    op.create_table(
        "lifeevent_consents",
        sa.Column("id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("subscriber_id", ID, nullable=False),
        sa.Column("event", sa.String(30), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("given_at", TZ, nullable=False),
        sa.Column("given_by", sa.String(100), nullable=False),
        sa.Column("withdrawn_at", TZ, nullable=True),
        sa.Column("withdrawn_by", sa.String(100), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["identity_persons.id"],
            name="fk_lifeevent_consents_person_id_identity_persons",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["lifeevent_subscribers.id"],
            name="fk_lifeevent_consents_subscriber_id_lifeevent_subscribers",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lifeevent_consents"),
    )
    op.create_index("ix_lifeevent_consents_person_id", "lifeevent_consents", ["person_id"])
    op.create_index("ix_lifeevent_consents_subscriber_id", "lifeevent_consents", ["subscriber_id"])
    op.create_index(
        "uq_lifeevent_consents_in_force",
        "lifeevent_consents",
        ["person_id", "subscriber_id", "event"],
        unique=True,
        sqlite_where=IN_FORCE,
        postgresql_where=IN_FORCE,
    )
    op.create_table(
        "lifeevent_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("subscriber_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("consent_id", ID, nullable=False),
        sa.Column("event", sa.String(30), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("locked_by", sa.String(100), nullable=True),
        sa.Column("locked_until", TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("replayed_by", sa.String(100), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["lifeevent_subscribers.id"],
            name="fk_lifeevent_deliveries_subscriber_id_lifeevent_subscribers",
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["lifeevent_consents.id"],
            name="fk_lifeevent_deliveries_consent_id_lifeevent_consents",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lifeevent_deliveries"),
    )
    op.create_index(
        "ix_lifeevent_deliveries_subscriber_id", "lifeevent_deliveries", ["subscriber_id"]
    )
    op.create_index("ix_lifeevent_deliveries_person_id", "lifeevent_deliveries", ["person_id"])
    op.create_index("ix_lifeevent_deliveries_consent_id", "lifeevent_deliveries", ["consent_id"])
    op.create_index(
        "ix_lifeevent_deliveries_due", "lifeevent_deliveries", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("lifeevent_deliveries")
    op.drop_table("lifeevent_consents")
    op.drop_table("lifeevent_subscribers")
