"""registry: the group field of a record (the 世帯番号) in an indexed column

Revision ID: registry_0002
Revises: registry_0001
Create Date: 2026-11-27

Finding the members of one household read every current record of the
municipality's register (a LIKE on the JSON text): fine for a test, not for a
city. A registry definition may now name a group field (住民基本台帳:
household.household_id); writes keep it in ``group_key``. Existing 住民基本台帳
rows are filled here from their data (the only pack registry with a group field
when this was written; a later group field needs a migration of its own).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "registry_0002"
down_revision: str | Sequence[str] | None = "registry_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_registry_records_group"
FILL = {
    "postgresql": "UPDATE registry_records SET group_key ="
    " NULLIF(CAST(data AS jsonb) #>> '{household,household_id}', '') WHERE registry_id = 'juki'",
    "sqlite": "UPDATE registry_records SET group_key ="
    " NULLIF(CAST(json_extract(data, '$.household.household_id') AS TEXT), '')"
    " WHERE registry_id = 'juki'",
}


def upgrade() -> None:
    op.add_column("registry_records", sa.Column("group_key", sa.String(100), nullable=True))
    op.execute(FILL[op.get_bind().dialect.name])
    op.create_index(INDEX, "registry_records", ["keeper_id", "registry_id", "group_key"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="registry_records")
    with op.batch_alter_table("registry_records") as batch:
        batch.drop_column("group_key")
