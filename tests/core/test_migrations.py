"""Migrations: from empty to head on both backends, and models agree with them."""

from __future__ import annotations

import importlib
import pkgutil

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import tsunagu
from tsunagu.core import migrate
from tsunagu.core.db import Base, is_unmanaged_table


def _import_all_models() -> None:
    for module in pkgutil.walk_packages(tsunagu.__path__, "tsunagu."):
        if module.name.endswith(".models"):
            importlib.import_module(module.name)


def _managed(name: str | None, type_: str, _parent: object) -> bool:
    return not (type_ == "table" and name is not None and is_unmanaged_table(name))


def test_fresh_database_is_at_every_head(engine: Engine, database_url: str) -> None:
    assert migrate.is_up_to_date(engine, database_url)
    assert {"audit_records", "outbox_events", "outbox_handled"} <= set(
        inspect(engine).get_table_names()
    )


def test_models_match_migrations(engine: Engine) -> None:
    """Autogenerate finds nothing to do: every model change came with its migration."""
    _import_all_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _managed}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_constraint_names_fit_postgresql_identifiers(engine: Engine) -> None:
    """PostgreSQL truncates names over 63 bytes; later migrations could not refer to them."""
    inspector = inspect(engine)
    for table in inspector.get_table_names():
        names = [table]
        names += [fk["name"] for fk in inspector.get_foreign_keys(table)]
        names += [ix["name"] for ix in inspector.get_indexes(table)]
        names += [uq["name"] for uq in inspector.get_unique_constraints(table)]
        too_long = [n for n in names if n is not None and len(n.encode()) > 63]
        assert not too_long, f"{table}: {too_long}"


def test_downgrade_to_base_and_up_again(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/roundtrip.db"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    migrate.upgrade(url)
    from tsunagu.core.db import make_engine

    engine = make_engine(url)
    assert migrate.is_up_to_date(engine, url)
    engine.dispose()
