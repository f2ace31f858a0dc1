"""The opendata migration creates exactly what the models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import tsunagu.opendata.models  # noqa: F401  (registers the tables)
from tsunagu.core.db import Base


def _ours(diff: Any) -> bool:
    """Differences touching opendata tables (other modules check their own)."""
    text = repr(diff)
    return "opendata_" in text and "opendata_fts" not in text


def test_models_match_migration(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _ours(d)]
    assert diffs == []
