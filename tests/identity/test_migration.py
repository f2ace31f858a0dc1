"""The identity migration creates exactly what the models describe, on both backends."""

from __future__ import annotations

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


def _identity_names(name: str | None, type_: str, parents: dict[str, str | None]) -> bool:
    """Compare only this module's tables (other modules' models are not imported here)."""
    if type_ == "schema":
        return True
    table = name if type_ == "table" else parents.get("table_name")
    return bool(table and table.startswith("identity_"))


def test_models_match_the_migration(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _identity_names}
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
