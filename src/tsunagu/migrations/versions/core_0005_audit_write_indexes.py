"""core: drop the audit indexes nothing reads by (action, occurred_at, hash)

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-11-27

Every state change writes audit records (nine for a submission), and each index
is one more B-tree to update per record. An index on a random value (a hash) or
on one of a few values (an action) touches a different page for every record:
these three were 20 of the 81 pages a submission wrote to SQLite's log, and
nothing queries by them (the trail is read by seq, chain, day and object). The
chain cannot fork without ``uq_audit_records_chain_prev_hash``, which stays; a
record's hash covers its chain and seq, so two records never share one anyway.
No data changes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "core_0005"
down_revision: str | Sequence[str] | None = "core_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_index("ix_audit_records_action")
        batch.drop_index("ix_audit_records_occurred_at")
        batch.drop_constraint("uq_audit_records_hash", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.create_unique_constraint("uq_audit_records_hash", ["hash"])
        batch.create_index("ix_audit_records_occurred_at", ["occurred_at"])
        batch.create_index("ix_audit_records_action", ["action"])
