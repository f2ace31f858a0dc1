"""The identity migration creates exactly what the models describe, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import tsunagu.identity.models  # noqa: F401  (registers the tables)
from tsunagu.core import migrate
from tsunagu.core.db import Base, make_engine

IDENTITY_TABLES = {
    "identity_organizations",
    "identity_units",
    "identity_households",
    "identity_persons",
    "identity_officials",
    "identity_official_roles",
}


def _party_tables(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    """Compare only the party tables (other tables have their own migrations and checks)."""
    table = name if type_ == "table" else obj.table.name
    return table in IDENTITY_TABLES


def test_models_match_the_migration(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _party_tables}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_names_fit_postgresql_identifiers(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in IDENTITY_TABLES:
        names = [fk["name"] for fk in inspector.get_foreign_keys(table)]
        names += [ix["name"] for ix in inspector.get_indexes(table)]
        names += [uq["name"] for uq in inspector.get_unique_constraints(table)]
        assert all(name is None or len(name) <= 63 for name in names), names


def test_identity_branch_downgrades_and_upgrades(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/identity.db"
    migrate.upgrade(url)
    migrate.downgrade(url, "identity@base")
    engine = make_engine(url)
    assert not IDENTITY_TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(url)
    assert set(inspect(engine).get_table_names()) >= IDENTITY_TABLES
    engine.dispose()
