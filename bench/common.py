"""Helpers shared by benchmarks: fresh databases on SQLite and PostgreSQL, percentiles."""

from __future__ import annotations

import os
import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tsunagu.core import migrate

PG_ADMIN_URL = os.environ.get(
    "TSUNAGU_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def sqlite_url(workdir: Path, name: str = "bench") -> str:
    url = f"sqlite:///{workdir / (name + '.db')}"
    migrate.upgrade(url)
    return url


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """A fresh migrated PostgreSQL database, or ``None`` when no server is reachable."""
    name = f"tsunagu_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        admin.dispose()
        yield None
        return
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def percentile(samples: list[float], p: float) -> float:
    """p-th percentile (0–100) by the inclusive method."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(p) - 1]
