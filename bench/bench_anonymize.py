"""Anonymization benchmarks (issue 7).

- adult, k = 10, 5 % suppression: wall time of a full run including reading
  the CSV and writing the output (target ≤ 2 s);
- the same configuration with ANJANA (PyPI ``anjana``) in the same run, with
  the same hierarchies: speed-up (target ≥ 10×) and information loss (GCP of
  both outputs scored by the same function; target: ours no worse);
- a 1,000,000-row synthetic resident table, k = 10, run in a child process
  that reports its own peak RSS (targets ≤ 60 s and ≤ 4 GB).
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from tsunagu.anonymize import engine
from tsunagu.anonymize.config import AnonymizeConfig, simple_config
from tsunagu.anonymize.hierarchy import generalized_labels
from tsunagu.anonymize.metrics import score_labels
from tsunagu.anonymize.problem import Problem, build_problem
from tsunagu.anonymize.synthetic import write_residents

ADULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "adult.csv"
QI = [
    "age",
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "race",
    "sex",
    "native-country",
]
SENSITIVE = "salary-class"
K = 10
SUPPRESSION = 0.05
RESIDENT_ROWS = 1_000_000

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from tsunagu.anonymize import engine
from tsunagu.anonymize.config import load_config
from tsunagu.anonymize.synthetic import RESIDENT_CONFIG
started = time.perf_counter()
report = engine.run(load_config(RESIDENT_CONFIG), Path(sys.argv[1]), Path(sys.argv[2]))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak,
                  "k": report["achieved"]["k"], "suppressed_rows": report["suppressed_rows"],
                  "gcp": report["loss"]["gcp"], "levels": report["search"]["levels"],
                  "nodes_checked": report["search"]["nodes_checked"]}))
"""


def _config() -> AnonymizeConfig:
    return simple_config(QI, [SENSITIVE], k=K, suppression=SUPPRESSION)


def _problem(config: AnonymizeConfig) -> Problem:
    frame = engine.prepare(engine.scan(ADULT, config), config).frame
    keys = [*config.quasi_identifiers, *config.sensitive]
    base = frame.group_by(keys).agg(pl.len().alias("__rows")).collect()
    return build_problem(base, config)


def _ours(workdir: Path) -> dict[str, Any]:
    config = _config()
    times, report = [], {}
    for attempt in range(3):
        started = time.perf_counter()
        report = engine.run(config, ADULT, workdir / f"adult-{attempt}.csv")
        times.append(time.perf_counter() - started)
    return {
        "seconds_median": round(statistics.median(times), 3),
        "seconds_all": [round(t, 3) for t in times],
        "k": report["achieved"]["k"],
        "suppressed_rows": report["suppressed_rows"],
        "gcp": report["loss"]["gcp"],
        "levels": report["search"]["levels"],
        "nodes_checked": report["search"]["nodes_checked"],
    }


def _anjana(problem: Problem, workdir: Path) -> dict[str, Any]:
    """ANJANA on the same data, quasi-identifiers, k, suppression and hierarchies."""
    import pandas as pd
    from anjana.anonymity import k_anonymity
    from pycanon import anonymity

    hierarchies = {
        q.column: {
            level: pd.Series(
                q.values.to_list() if level == 0 else list(generalized_labels(q, level))
            )
            for level in range(q.height + 1)
        }
        for q in problem.qis
    }
    started = time.perf_counter()  # like ours: reading, anonymizing and writing
    frame = pd.read_csv(ADULT, skipinitialspace=True)[[*QI, SENSITIVE]]
    with contextlib.redirect_stdout(io.StringIO()):
        released = k_anonymity(frame, [], QI, K, SUPPRESSION * 100, hierarchies)
    released.to_csv(workdir / "anjana.csv", index=False)
    seconds = time.perf_counter() - started
    suppressed = len(frame) - len(released)
    columns = {q: [str(v) for v in released[q]] for q in QI}
    return {
        "seconds": round(seconds, 3),
        "k_pycanon": int(anonymity.k_anonymity(released, QI)) if len(released) else 0,
        "suppressed_rows": suppressed,
        "gcp": round(score_labels(problem, columns, suppressed), 6),
    }


def _residents(workdir: Path) -> dict[str, Any]:
    source = write_residents(workdir / "residents.csv", RESIDENT_ROWS)
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(source), str(workdir / "residents-out.csv")],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["rows"] = RESIDENT_ROWS
    result["input_mb"] = round(source.stat().st_size / 2**20, 1)
    result["seconds"] = round(result["seconds"], 2)
    result["peak_rss_mb"] = round(result["peak_rss_mb"], 1)
    return result


def run(workdir: Path) -> dict[str, Any]:
    if not ADULT.is_file():
        raise SystemExit(f"{ADULT} is missing (shared/ must lie beside the repository)")
    ours = _ours(workdir)
    anjana = _anjana(_problem(_config()), workdir)
    residents = _residents(workdir)
    return {
        "adult_k10": ours,
        "anjana_adult_k10": anjana,
        "speedup_vs_anjana": round(anjana["seconds"] / ours["seconds_median"], 1),
        "resident_1m_k10": residents,
        "targets": {
            "adult_k10_seconds": 2.0,
            "speedup_vs_anjana_min": 10.0,
            "gcp_no_worse_than_anjana": ours["gcp"] <= anjana["gcp"] + 1e-9,
            "resident_1m_seconds": 60.0,
            "resident_1m_peak_rss_mb": 4096.0,
        },
        "met": {
            "adult_k10_seconds": ours["seconds_median"] <= 2.0,
            "speedup_vs_anjana": anjana["seconds"] >= 10 * ours["seconds_median"],
            "gcp_no_worse": ours["gcp"] <= anjana["gcp"] + 1e-9,
            "resident_1m_seconds": residents["seconds"] <= 60.0,
            "resident_1m_memory": residents["peak_rss_mb"] <= 4096.0,
        },
        "config": {
            "quasi_identifiers": QI,
            "sensitive": SENSITIVE,
            "k": K,
            "suppression": SUPPRESSION,
        },
    }
