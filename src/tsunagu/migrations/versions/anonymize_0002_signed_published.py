"""anonymize: owning organization, seal signature and catalog publication of releases

Revision ID: anonymize_0002
Revises: anonymize_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "anonymize_0002"
down_revision: str | Sequence[str] | None = "anonymize_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("organization_id", sa.String(36)),
    ("signature", sa.LargeBinary()),
    ("signer_serial", sa.String(64)),
    ("signed_at", sa.DateTime(timezone=True)),
    ("signed_by", sa.String(200)),
    ("package_id", sa.String(36)),
    ("published_at", sa.DateTime(timezone=True)),
    ("published_by", sa.String(200)),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("anonymize_releases", sa.Column(name, type_, nullable=True))
    op.create_index(
        "ix_anonymize_releases_organization_id", "anonymize_releases", ["organization_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_anonymize_releases_organization_id", table_name="anonymize_releases")
    with op.batch_alter_table("anonymize_releases") as batch:
        for name, _type in reversed(COLUMNS):
            batch.drop_column(name)
