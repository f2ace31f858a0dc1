"""Alembic, driven from code so that ``tsunagu db upgrade`` needs no alembic.ini.

Each module owns an Alembic *branch* (``branch_labels=("<module>",)``) that
depends on ``core``; ``upgrade heads`` applies them all. Modules can therefore
add migrations independently without fighting over a single linear chain.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply migrations up to ``revision`` (all module branches by default)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current_heads(engine: Engine) -> set[str]:
    """Revisions the database is at (empty for a fresh database)."""
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def script_heads(url: str) -> set[str]:
    """Revisions the code expects the database to reach."""
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def is_up_to_date(engine: Engine, url: str) -> bool:
    """Every head of every branch is applied.

    A branch base such as ``core_0001`` that other branches depend on is not
    kept in ``alembic_version`` once they are applied, so compare what the
    current heads imply (their ancestors and dependencies) with the script heads.
    """
    script = ScriptDirectory.from_config(alembic_config(url))
    applied = {
        rev.revision for rev in script.iterate_revisions(tuple(current_heads(engine)), "base")
    }
    return set(script.get_heads()) <= applied
