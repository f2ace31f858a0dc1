"""``tsunagu anonymize run | release | sign | publish``: the operator's side of the engine.

Heavy imports (Polars, NumPy) happen inside the commands, so other ``tsunagu``
commands start as fast as before.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from tsunagu.anonymize import errors
from tsunagu.anonymize.config import Algorithm

app = typer.Typer(help="匿名加工 / anonymization", no_args_is_help=True)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _configuration(
    config: Path | None,
    qi: str | None,
    sensitive: str | None,
    k: int | None,
    l: int | None,  # noqa: E741
    t: float | None,
    suppression: float,
    algorithm: Algorithm,
    keep: str | None,
) -> Any:
    from tsunagu.anonymize.config import load_config_file, simple_config

    if config is not None:
        if qi or k is not None:
            raise errors.bad_config("give either --config or --qi/--k, not both")
        return load_config_file(config)
    if not qi or k is None:
        raise errors.bad_config("give --config, or --qi and --k (see --help)")
    return simple_config(
        _split(qi),
        _split(sensitive),
        k=k,
        l=l,
        t=t,
        suppression=suppression,
        algorithm=algorithm,
        keep=_split(keep),
    )


@app.command("run")
def run(
    source: Annotated[Path, typer.Option("--in", help="入力 CSV/Parquet / input file")],
    out: Annotated[Path, typer.Option("--out", help="出力ファイル / output file")],
    config: Annotated[Path | None, typer.Option(help="YAML 設定 / configuration")] = None,
    report: Annotated[Path | None, typer.Option(help="JSON レポート / report")] = None,
    html: Annotated[Path | None, typer.Option(help="HTML レポート / HTML report")] = None,
    qi: Annotated[str | None, typer.Option(help="準識別子 a,b,c / quasi-identifiers")] = None,
    sensitive: Annotated[str | None, typer.Option(help="機微属性 / sensitive attributes")] = None,
    keep: Annotated[str | None, typer.Option(help="そのまま残す列 / columns kept as is")] = None,
    k: Annotated[int | None, typer.Option(help="k-匿名性 / k")] = None,
    l: Annotated[int | None, typer.Option(help="l-多様性 (distinct) / l")] = None,  # noqa: E741
    t: Annotated[float | None, typer.Option(help="t-近接性 / t (EMD)")] = None,
    suppression: Annotated[float, typer.Option(help="削除上限 (割合) / suppression limit")] = 0.0,
    algorithm: Annotated[Algorithm, typer.Option(help="optimal | mondrian")] = Algorithm.OPTIMAL,
    lang: Annotated[str, typer.Option(help="HTML report language: ja | en")] = "ja",
) -> None:
    """匿名加工を実行 / anonymize a file (with --config, or the short form --qi … --k …)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tsunagu.anonymize import engine
    from tsunagu.anonymize.report import render_html

    parsed = _configuration(config, qi, sensitive, k, l, t, suppression, algorithm, keep)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
        tasks: dict[str, Any] = {}

        def stage(name: str, fraction: float) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=1.0)
            progress.update(tasks[name], completed=fraction)

        result = engine.run(parsed, source, out, stage=stage)
    if report is not None:
        _write_atomic(report, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    if html is not None:
        _write_atomic(html, render_html(result, lang))
    achieved = result["achieved"]
    typer.echo(
        f"{result['rows_out']} rows written to {out} (k={achieved['k']}, "
        f"l={achieved['l_distinct']}, t={achieved['t']}, "
        f"suppressed {result['suppressed_rows']}, GCP {result['loss']['gcp']})"
    )


def _session_factory() -> Any:
    from tsunagu.core.config import get_settings
    from tsunagu.core.db import make_engine, make_session_factory

    return make_session_factory(make_engine(get_settings().effective_database_url))


def _organization_id(session: Any, reference: str) -> str:
    """An identity organization given by id, 地方公共団体コード (6 digits) or 法人番号 (13)."""
    from tsunagu.identity import service as identity

    digits = reference.strip()
    if digits.isdigit() and len(digits) in (6, 13):
        key = "lgcode" if len(digits) == 6 else "corporate_number"
        found = identity.find_organization(session, **{key: digits})
        if found is None:
            raise errors.bad_input(
                f"組織 {digits} は登録されていません", f"no organization {digits} is registered"
            )
        return found.id
    return identity.get_organization(session, digits).id


@app.command("release")
def release(
    report: Annotated[Path, typer.Option(help="run のレポート / the run's JSON report")],
    out: Annotated[Path, typer.Option("--out", help="公開するファイル / the released file")],
    title: Annotated[str, typer.Option(help="名称 / title")],
    organization: Annotated[
        str, typer.Option(help="作成した組織 (ID・団体コード・法人番号) / organization")
    ],
    provision: Annotated[str, typer.Option(help="提供の方法 / how the data are provided")],
    categories: Annotated[
        str | None, typer.Option(help="情報の項目 a,b / categories (default: columns)")
    ] = None,
    actor: Annotated[str, typer.Option(help="担当者 / operator name for the audit trail")] = "cli",
) -> None:
    """作成記録と公表事項を記録 / record a release (作成記録 and 公表事項)."""
    from tsunagu.anonymize import service
    from tsunagu.anonymize.engine import sha256_file
    from tsunagu.anonymize.schemas import PublicationIn
    from tsunagu.anonymize.workspace import WorkStore
    from tsunagu.core.config import get_settings
    from tsunagu.core.db import transaction

    try:
        content = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise errors.bad_input(
            f"レポートを読めません: {exc}", f"cannot read the report: {exc}"
        ) from None
    if not out.is_file() or sha256_file(out) != content.get("output", {}).get("sha256"):
        raise errors.bad_input(
            "出力ファイルがレポートの SHA-256 と一致しません",
            "the output file does not match the SHA-256 in the report",
        )
    publication = PublicationIn(categories=_split(categories) or None, provision_method=provision)
    with transaction(_session_factory()) as session:
        row = service.create_release(
            session,
            report=content,
            title=title,
            organization_id=_organization_id(session, organization),
            publication=publication,
            actor=f"cli:{actor}",
        )
        WorkStore.for_settings(get_settings()).keep_file(out, row.id)
        typer.echo(f"release {row.id} recorded (record SHA-256 {row.record_sha256})")


@app.command("sign")
def sign(
    release_id: Annotated[str, typer.Argument(help="作成記録の ID / release id")],
    actor: Annotated[str, typer.Option(help="担当者 / operator name for the audit trail")] = "cli",
) -> None:
    """電子公印で署名 / seal a release with its organization's seal (time-stamped)."""
    from tsunagu.anonymize import service, signing
    from tsunagu.core.config import get_settings
    from tsunagu.core.db import transaction
    from tsunagu.exchange import sealing

    settings = get_settings()
    with transaction(_session_factory()) as session:
        row = service.get_release(session, release_id)
        signing.sign_release(
            session, settings, sealing.store_for(settings), row, actor=f"cli:{actor}"
        )
        typer.echo(f"release {row.id} sealed (certificate {row.signer_serial})")


@app.command("publish")
def publish(
    release_id: Annotated[str, typer.Argument(help="作成記録の ID / release id")],
    license_id: Annotated[str, typer.Option("--license", help="利用規約 / licence")] = "cc-by-4.0",
    actor: Annotated[str, typer.Option(help="担当者 / operator name for the audit trail")] = "cli",
) -> None:
    """カタログに公開 / publish a sealed release to the open data catalog."""
    from tsunagu.anonymize import catalog, service
    from tsunagu.anonymize.workspace import WorkStore
    from tsunagu.core.config import get_settings
    from tsunagu.core.db import transaction

    settings = get_settings()
    with transaction(_session_factory()) as session:
        row = service.get_release(session, release_id)
        package_id = catalog.publish_release(
            session,
            settings,
            row,
            file=WorkStore.for_settings(settings).release_file(row.id),
            actor=f"cli:{actor}",
            license_id=license_id,
        )
        typer.echo(f"release {row.id} published as dataset {package_id}")
