"""The identity branch can be rolled back and re-applied on its own.

Model/migration agreement and identifier lengths are checked for every module
in ``tests/core/test_migrations.py``.
"""

from __future__ import annotations

from sqlalchemy import inspect

from tsunagu.core import migrate
from tsunagu.core.db import make_engine

IDENTITY_TABLES = {
    "identity_organizations",
    "identity_units",
    "identity_households",
    "identity_persons",
    "identity_officials",
    "identity_official_roles",
}


def test_identity_branch_downgrades_and_upgrades(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/identity.db"
    migrate.upgrade(url)
    migrate.downgrade(url, "identity@base")
    engine = make_engine(url)
    assert not IDENTITY_TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(url)
    assert set(inspect(engine).get_table_names()) >= IDENTITY_TABLES
    engine.dispose()
