"""Run benchmarks and write ``bench/results/<name>.json``.

Each ``bench/bench_<name>.py`` defines ``run(workdir: Path) -> dict`` returning
its measurements (and the targets they are held to). ``--only a,b`` selects.
PostgreSQL figures are included when ``TSUNAGU_BENCH_PG_URL`` (default: the
local server's ``test`` database) is reachable.

Each result's ``_meta.reference_ms`` is how long a fixed piece of interpreter
work took just before and just after the benchmark (lower is faster). On a
shared VM whose speed moves from hour to hour, read rates beside it: two runs
are comparable when their reference figures are.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench.common import reference_ms

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tsunagu benchmarks")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}",
            file=sys.stderr,
        )
        return 2
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}", flush=True)
        speed_before = reference_ms()
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"tsunagu-bench-{name}-") as workdir:
            result = module.run(Path(workdir))
        result["_meta"] = {
            "benchmark": name,
            "seconds": round(time.perf_counter() - started, 2),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            # the machine's speed before and after (lower is faster): compare runs by it
            "reference_ms": [speed_before, reference_ms()],
        }
        path = RESULTS_DIR / f"{name}.json"
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
