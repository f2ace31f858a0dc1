"""Helpers shared by benchmarks: fresh databases on SQLite and PostgreSQL, percentiles."""

from __future__ import annotations

import json
import os
import socket
import statistics
import time
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


def _reference_work() -> int:
    """Interpreter-bound work of the kind a request does: dicts, strings, calls, JSON."""
    total = 0
    for i in range(20_000):
        record = {"id": i, "name": f"山田{i % 97}", "tags": [i % 3, i % 5]}
        total += len(json.dumps(record, ensure_ascii=False)) + len(str(record["tags"]))
    return total


def reference_ms(rounds: int = 5) -> float:
    """Milliseconds this machine takes for a fixed piece of interpreter work (best of ``rounds``).

    This VM's speed moves by 2× from hour to hour with nothing in ``top`` to show it; a
    result read beside this figure can be compared with one from another hour.
    """
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        _reference_work()
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


def percentile(samples: list[float], p: float) -> float:
    """p-th percentile (0–100) by the inclusive method."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(p) - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` (e.g. the workers of ``tsunagu serve --workers N``)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on the machine (the server's CPU is theirs together)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def wait_listening(port: int) -> None:
    """Wait until every worker of a server has bound ``port`` (the first accepts at once)."""
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            time.sleep(1.0)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")
