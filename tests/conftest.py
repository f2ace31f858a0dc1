"""Shared fixtures: every database-backed test runs on SQLite and on PostgreSQL.

PostgreSQL runs when ``TSUNAGU_TEST_DATABASE_URL`` is set: each test session
creates its own throw-away database on that server (so parallel runs never
collide) and drops it at the end. In CI an unreachable server is an error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core import migrate
from tsunagu.core.config import Settings
from tsunagu.core.db import make_engine, make_session_factory

pytest_plugins = ["tests.browser"]

PG_ENV = "TSUNAGU_TEST_DATABASE_URL"


def _create_pg_database(admin_url: str) -> str:
    name = f"tsunagu_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'tsunagu.db'}"
        migrate.upgrade(url)
        yield url
        return
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        pytest.skip(f"{PG_ENV} not set: PostgreSQL tests skipped")
    try:
        url = _create_pg_database(admin_url)
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {admin_url} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    try:
        migrate.upgrade(url)
        yield url
    finally:
        _drop_pg_database(admin_url, url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _empty_all_tables(engine: Engine) -> None:
    # FTS5 shadow tables (opendata_fts_*) belong to their virtual table: never touch them directly.
    tables = [
        t
        for t in inspect(engine).get_table_names()
        if t != "alembic_version" and not t.startswith("opendata_fts_")
    ]
    # Datastore tables (ds_*) are made at run time, one per resource: dropped, never
    # truncated by the hundred (which exhausts PostgreSQL's shared lock table).
    made_at_run_time = [t for t in tables if t.startswith("ds_")]
    tables = [t for t in tables if t not in made_at_run_time]
    with engine.begin() as connection:
        for table in made_at_run_time:
            connection.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
    if not tables:
        return
    with engine.begin() as connection:
        tables = _written(connection, tables)
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{t}"' for t in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))
            connection.execute(text("PRAGMA foreign_keys=ON"))


def _written(connection: Connection, tables: list[str]) -> list[str]:
    """Tables holding rows (one query), plus the audit trail whose sequence must restart.

    Truncating only these keeps each test's clean-up small: a TRUNCATE of every
    table takes an exclusive lock per table and index, which on PostgreSQL is
    slow and, with parallel sessions, can exhaust the shared lock table.
    """
    probes = " UNION ALL ".join(
        f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables
    )
    found = set(connection.execute(text(probes)).scalars())
    return [t for t in tables if t in found or t == "audit_records"]


@pytest.fixture
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Session factory on a database emptied after the test."""
    yield make_session_factory(engine)
    _empty_all_tables(engine)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, var_dir=tmp_path / "var")


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]) -> FastAPI:
    from tsunagu.web.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
