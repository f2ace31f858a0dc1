"""One anonymization run: read, pre-process, search, measure, write, report.

The input is scanned lazily twice — once to aggregate the distinct
quasi-identifier/sensitive combinations the search needs, once to write the
output through a join with the recoding table — so files larger than memory
stream through Polars. The output is written to a temporary file beside the
target and renamed into place only when complete: a failed run leaves nothing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsunagu import __version__
from tsunagu.anonymize import errors, lattice, mondrian
from tsunagu.anonymize.config import (
    Algorithm,
    AnonymizeConfig,
    IdentifierKind,
    MunicipalityHierarchy,
    TreeHierarchy,
)
from tsunagu.anonymize.metrics import Measured, Outcome, measure, risk_before, utility
from tsunagu.anonymize.problem import WEIGHT, Problem, build_problem
from tsunagu.core.ids import is_valid_mynumber

Stage = Callable[[str, float], None]
REPORT_SCHEMA = "tsunagu.anonymize.report/v1"


def _noop(_stage: str, _fraction: float) -> None:
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _string_columns(config: AnonymizeConfig) -> dict[str, pl.DataType]:
    """Codes must stay text (a municipality code 011002 is not the number 11002)."""
    return {
        name: pl.String()
        for name, attribute in config.attributes.items()
        if isinstance(attribute.hierarchy, MunicipalityHierarchy | TreeHierarchy)
    }


def _date_columns(path: Path, overrides: dict[str, pl.DataType]) -> list[pl.Expr]:
    """Parse the text columns that look like dates in a sample (parsing while scanning is slow)."""
    sample = pl.read_csv(path, n_rows=1000, try_parse_dates=True, schema_overrides=overrides)
    parsed = []
    for name, dtype in sample.schema.items():
        if isinstance(dtype, pl.Datetime):
            parsed.append(pl.col(name).str.to_datetime(time_unit=dtype.time_unit))
        elif dtype == pl.Date:
            parsed.append(pl.col(name).str.to_date())
    return parsed


def scan(path: Path, config: AnonymizeConfig) -> pl.LazyFrame:
    """The input as a lazy frame with the configuration's columns checked."""
    if not path.is_file():
        raise errors.bad_input(f"ファイルがありません: {path}", f"no such file: {path}")
    try:
        if _is_parquet(path):
            frame = pl.scan_parquet(path)
        else:
            overrides = _string_columns(config)
            frame = pl.scan_csv(path, infer_schema_length=10_000, schema_overrides=overrides)
            frame = frame.with_columns(_date_columns(path, overrides))
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise errors.bad_input(f"読み込めません: {first}", f"cannot read: {first}") from None
    named = [*config.attributes, *config.peculiar.top_bottom_coding, *config.peculiar.rare_values]
    unknown = sorted({n for n in named if n not in schema})
    if unknown:
        raise errors.unknown_columns(unknown, schema.names())
    if config.trim_whitespace:
        frame = frame.with_columns(pl.col(pl.String).str.strip_chars())
    return frame


@dataclass
class Prepared:
    frame: pl.LazyFrame
    columns: list[str]  # released columns, in input order
    steps: list[dict[str, Any]]


_STEP_TITLES = {
    "identifier_deletion": (
        "特定の個人を識別することができる記述等の削除",
        "deletion of descriptions that identify a person",
    ),
    "identification_code_deletion": (
        "個人識別符号の削除",
        "deletion of individual identification codes",
    ),
    "linking_code_deletion": ("連結符号の削除", "deletion of codes linking to other data"),
    "peculiar_description_deletion": ("特異な記述等の削除", "deletion of peculiar descriptions"),
    "other_measures": (
        "その他の措置(個人情報データベース等の性質を踏まえた措置)",
        "other measures suited to the data",
    ),
}


def _step(key: str, **details: Any) -> dict[str, Any]:
    title_ja, title_en = _STEP_TITLES[key]
    return {"step": key, "title_ja": title_ja, "title_en": title_en, **details}


def _count(frame: pl.LazyFrame, expression: pl.Expr) -> int:
    return int(frame.select(expression).collect(engine="streaming").item())


def _refuse_personal_numbers(frame: pl.LazyFrame, sample_rows: int = 1000) -> None:
    """A released column that holds 個人番号 means an identification code was not declared.

    Random 12-digit numbers pass the check digit one time in ten, so a column
    where most sampled values are valid 個人番号 almost surely holds real ones.
    """
    sample = frame.head(sample_rows).collect()
    for name in sample.columns:
        values = [str(v) for v in sample[name].drop_nulls().to_list()]
        valid = sum(len(v) == 12 and is_valid_mynumber(v) for v in values)
        if values and valid * 2 > len(values):
            raise errors.bad_input(
                f"列「{name}」に個人番号と思われる値があります。"
                "role: identifier, kind: identification_code として削除してください",
                f"column '{name}' appears to hold individual numbers (個人番号); declare it "
                "role: identifier, kind: identification_code so that it is deleted",
            )


def prepare(frame: pl.LazyFrame, config: AnonymizeConfig) -> Prepared:
    """Apply the PPC deletion steps and peculiar-value treatment, recording each."""
    schema = frame.collect_schema()
    kinds = {
        kind: [n for n in config.identifiers if config.attributes[n].kind is kind]
        for kind in IdentifierKind
    }
    unclassified = [n for n in schema.names() if n not in config.attributes]
    dropped = [*config.identifiers]
    if config.default_role == "delete":
        dropped += unclassified
    columns = [n for n in schema.names() if n not in dropped]
    frame = frame.select(columns)
    _refuse_personal_numbers(frame)
    coded: list[dict[str, Any]] = []
    for name, coding in config.peculiar.top_bottom_coding.items():
        if not schema[name].is_numeric():
            raise errors.bad_config(f"{name}: top/bottom coding needs numbers")
        column = pl.col(name)
        low = pl.lit(coding.bottom if coding.bottom is not None else None)
        high = pl.lit(coding.top if coding.top is not None else None)
        affected = _count(
            frame,
            ((column < low).fill_null(False) | (column > high).fill_null(False)).sum(),
        )
        frame = frame.with_columns(column.clip(coding.bottom, coding.top).cast(schema[name]))
        coded.append({"column": name, "bottom": coding.bottom, "top": coding.top, "rows": affected})
    rare: list[dict[str, Any]] = []
    for name, spec in config.peculiar.rare_values.items():
        counts = frame.group_by(name).agg(pl.len().alias("n")).collect(engine="streaming")
        values = counts.filter(pl.col("n") < spec.min_count)
        if len(values):
            column = pl.col(name).cast(pl.String)
            frame = frame.with_columns(
                pl.when(column.is_in(values[name].cast(pl.String).implode()))
                .then(pl.lit(spec.replacement))
                .otherwise(column)
                .alias(name)
            )
        rare.append(
            {
                "column": name,
                "min_count": spec.min_count,
                "values": len(values),
                "rows": int(values["n"].sum()),
            }
        )
    steps = [
        _step("identifier_deletion", columns=kinds[IdentifierKind.DESCRIPTION]),
        _step("identification_code_deletion", columns=kinds[IdentifierKind.IDENTIFICATION_CODE]),
        _step("linking_code_deletion", columns=kinds[IdentifierKind.LINKING_CODE]),
        _step("peculiar_description_deletion", top_bottom_coding=coded, rare_values=rare),
    ]
    if config.default_role == "delete" and unclassified:
        steps[0]["unclassified_columns_deleted"] = unclassified
    return Prepared(frame, columns, steps)


def _aggregate(frame: pl.LazyFrame, config: AnonymizeConfig) -> pl.DataFrame:
    keys = [*config.quasi_identifiers, *config.sensitive]
    return frame.group_by(keys).agg(pl.len().alias(WEIGHT)).collect(engine="streaming")


@dataclass(frozen=True)
class Transformation:
    outcome: Outcome
    search: dict[str, Any]


def _transform(problem: Problem, config: AnonymizeConfig, stage: Stage) -> Transformation:
    started = time.perf_counter()
    if config.algorithm is Algorithm.MONDRIAN:
        outcome = mondrian.partition(problem, lambda f: stage("search", f))
        search: dict[str, Any] = {"algorithm": "mondrian"}
    else:
        result = lattice.search(problem, lambda f: stage("search", f))
        outcome = lattice.outcome_of(problem, result.node)
        search = {
            "algorithm": "optimal",
            "lattice_nodes": result.lattice_size,
            "nodes_checked": result.checked,
            "levels": {q.column: h for q, h in zip(problem.qis, result.node, strict=True)},
            "level_labels": {
                q.column: q.labels[h][:20] for q, h in zip(problem.qis, result.node, strict=True)
            },
        }
    search["seconds"] = round(time.perf_counter() - started, 3)
    return Transformation(outcome, search)


def _recoding_table(problem: Problem, measured: Measured, base: pl.DataFrame) -> pl.DataFrame:
    """Distinct quasi-identifier tuples kept in the release, with their released labels."""
    outcome = measured.outcome
    qi = [q.column for q in problem.qis]
    columns: dict[str, Any] = {name: base[name] for name in qi}
    for q, names, codes, general in zip(
        problem.qis, outcome.labels, outcome.row_labels, outcome.generalized, strict=True
    ):
        if general:
            columns[f"__label_{q.column}"] = pl.Series(
                np.asarray(names, dtype=object)[codes], dtype=pl.String
            )
    table = pl.DataFrame(columns).filter(pl.Series(measured.keep_row))
    return table.unique(subset=qi, keep="first", maintain_order=True)


def _write(
    prepared: Prepared,
    problem: Problem,
    measured: Measured,
    base: pl.DataFrame,
    output: Path,
) -> None:
    qi = [q.column for q in problem.qis]
    table = _recoding_table(problem, measured, base)
    released = prepared.frame.join(table.lazy(), on=qi, how="inner", nulls_equal=False)
    replace = [
        pl.col(f"__label_{q.column}").alias(q.column)
        for q, general in zip(problem.qis, measured.outcome.generalized, strict=True)
        if general
    ]
    released = released.with_columns(replace).select(prepared.columns)
    # Sorting removes any link between the release's row order and the source's.
    released = released.sort(prepared.columns, nulls_last=True, maintain_order=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    os.close(handle)
    try:
        if _is_parquet(output):
            released.sink_parquet(temporary)
        else:
            released.sink_csv(temporary)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _requested(config: AnonymizeConfig) -> dict[str, Any]:
    privacy = config.privacy
    return {
        "k": privacy.k,
        "l_diversity": privacy.l_diversity.model_dump() if privacy.l_diversity else None,
        "t_closeness": privacy.t_closeness.model_dump() if privacy.t_closeness else None,
        "suppression_limit": config.suppression_limit,
    }


def _other_measures(config: AnonymizeConfig, search: dict[str, Any]) -> dict[str, Any]:
    return _step(
        "other_measures",
        generalization=search["algorithm"],
        privacy_models=_requested(config),
        record_suppression="records of classes that still violate a model are removed",
        row_order="rows sorted by value, unlinking them from the source order",
        notes=list(config.other_measures),
    )


def run(
    config: AnonymizeConfig,
    source: Path,
    output: Path,
    *,
    stage: Stage = _noop,
) -> dict[str, Any]:
    """Anonymize ``source`` into ``output`` and return the report (JSON-ready)."""
    started = time.perf_counter()
    stage("read", 0.0)
    prepared = prepare(scan(source, config), config)
    try:
        base = _aggregate(prepared.frame, config)
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0]
        raise errors.bad_input(f"読み込めません: {first}", f"cannot read: {first}") from None
    if base.is_empty():
        raise errors.bad_input("データが空です", "the input has no rows")
    stage("read", 1.0)
    problem = build_problem(base, config)
    transformation = _transform(problem, config, stage)
    measured = measure(problem, transformation.outcome)
    figures = utility(problem, measured, config.risk)
    stage("write", 0.0)
    _write(prepared, problem, measured, base, output)
    stage("write", 1.0)
    reached = measured.achieved
    return {
        "schema": REPORT_SCHEMA,
        "tool": {"name": "tsunagu.anonymize", "version": __version__},
        "input": {"name": source.name, "sha256": sha256_file(source), "rows": problem.rows},
        "output": {"name": output.name, "sha256": sha256_file(output), "rows": figures["rows_out"]},
        "algorithm": transformation.search["algorithm"],
        "requested": _requested(config),
        "achieved": {
            "k": reached.k,
            "l_distinct": reached.l_distinct,
            "l_entropy": None if reached.l_entropy is None else round(reached.l_entropy, 6),
            "t": None if reached.t is None else round(reached.t, 6),
        },
        "attributes": {
            "quasi_identifiers": config.quasi_identifiers,
            "sensitive": config.sensitive,
            "released_columns": prepared.columns,
            "generalized": [
                q.column
                for q, g in zip(problem.qis, measured.outcome.generalized, strict=True)
                if g
            ],
        },
        **figures,
        "risk_before": risk_before(problem, config.risk),
        "steps": [*prepared.steps, _other_measures(config, transformation.search)],
        "search": transformation.search,
        "seconds": round(time.perf_counter() - started, 3),
    }
