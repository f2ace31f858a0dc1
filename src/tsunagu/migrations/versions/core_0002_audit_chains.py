"""core: audit trail as interleaved chains with a global sequence

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-26

Existing records keep their hashes and become chain 0, so an upgraded trail
still verifies. On PostgreSQL ``seq`` now comes from a sequence that starts
after the highest existing record.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0002"
down_revision: str | Sequence[str] | None = "core_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("chain", sa.SmallInteger(), server_default="0", nullable=False))
        batch.create_unique_constraint("uq_audit_records_chain_prev_hash", ["chain", "prev_hash"])
        batch.create_index("ix_audit_records_chain_seq", ["chain", "seq"])
    if op.get_bind().dialect.name == "postgresql":
        # Owned by the column, so TRUNCATE … RESTART IDENTITY restarts it too.
        op.execute("CREATE SEQUENCE audit_records_seq OWNED BY audit_records.seq")
        op.execute(
            "SELECT setval('audit_records_seq',"
            " COALESCE((SELECT max(seq) FROM audit_records), 0) + 1, false)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE audit_records_seq")
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_index("ix_audit_records_chain_seq")
        batch.drop_constraint("uq_audit_records_chain_prev_hash", type_="unique")
        batch.drop_column("chain")
