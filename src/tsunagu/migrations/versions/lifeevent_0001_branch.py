"""lifeevent: the module's branch (its tables come in the following revisions)

Revision ID: lifeevent_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

revision: str = "lifeevent_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("lifeevent",)
depends_on: str | Sequence[str] | None = ("procedure_0002",)


def upgrade() -> None:
    """Nothing yet: the branch exists so its revisions can be added independently."""


def downgrade() -> None:
    """Nothing to undo."""
