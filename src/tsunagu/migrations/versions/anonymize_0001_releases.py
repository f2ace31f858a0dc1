"""anonymize: release records (作成記録 and 公表事項)

Revision ID: anonymize_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "anonymize_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("anonymize",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "anonymize_releases",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("organization", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("method", sa.String(30), nullable=False),
        sa.Column("achieved_k", sa.Integer(), nullable=False),
        sa.Column("achieved_l", sa.Integer(), nullable=True),
        sa.Column("achieved_t", sa.Float(), nullable=True),
        sa.Column("gcp", sa.Float(), nullable=False),
        sa.Column("input_rows", sa.Integer(), nullable=False),
        sa.Column("suppressed_rows", sa.Integer(), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("output_sha256", sa.String(64), nullable=False),
        sa.Column("creation_record", sa.Text(), nullable=False),
        sa.Column("publication", sa.Text(), nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_anonymize_releases"),
        sa.UniqueConstraint("record_sha256", name="uq_anonymize_releases_record_sha256"),
    )
    op.create_index("ix_anonymize_releases_created_at", "anonymize_releases", ["created_at"])
    op.create_index("ix_anonymize_releases_output_sha256", "anonymize_releases", ["output_sha256"])


def downgrade() -> None:
    op.drop_table("anonymize_releases")
