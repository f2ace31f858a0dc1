"""core: index audit records by object, so one object's history is read without a scan

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "core_0003"
down_revision: str | Sequence[str] | None = "core_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_records_object", "audit_records", ["object_type", "object_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_records_object", table_name="audit_records")
