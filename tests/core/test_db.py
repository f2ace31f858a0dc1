"""Engines: what core.db tunes for a driver must keep DB-API behaviour intact."""

from __future__ import annotations

from sqlalchemy import Engine, text

from tsunagu.core.db import DescribedColumn, PlainDescriptionCursor


def test_results_keep_their_column_names_and_types(engine: Engine) -> None:
    with engine.connect() as connection:
        result = connection.execute(text("SELECT 1 AS one, 'つなぐ' AS name"))
        assert list(result.keys()) == ["one", "name"]
        assert result.one()._asdict() == {"one": 1, "name": "つなぐ"}


def test_psycopg_cursors_describe_columns_as_db_api_tuples(engine: Engine) -> None:
    if engine.dialect.driver != "psycopg":
        return  # the plain description is psycopg's only
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        assert isinstance(cursor, PlainDescriptionCursor)
        cursor.execute("SELECT 1::int4 AS one, 'x'::text AS name")
        assert cursor.description == [
            DescribedColumn("one", 23),  # int4
            DescribedColumn("name", 25),  # text
        ]
        assert len(cursor.description[0]) == 7  # DB-API 2: seven items per column
        cursor.execute("SELECT")
        assert cursor.description == []  # rows of no columns
        cursor.execute("SET LOCAL lock_timeout = '1s'")
        assert cursor.description is None  # no rows at all
